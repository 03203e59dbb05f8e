# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""``congress-consumer-verify``: verify a datasource's replicas now.

Asks a running ``congress-consumer`` to compare the tables of a
datasource with their source and repair what differs (``POST
/v1/data-sources/<name>?action=verify&wait=true``, see
:mod:`congress_consumer.api.actions`), waits for the result and prints it
as JSON::

    congress-consumer-verify --url http://127.0.0.1:8780 nova
    congress-consumer-verify nova --table instances --timeout 300

Exit status: 0 when every table was verified (repairs included), 1 when
a table could not be verified (the output says why), 2 when the API
refused the request or could not be reached, 3 when the verification
was still running after ``--timeout`` seconds.
"""

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

from congress_consumer.api import actions
from congress_consumer import opts

DEFAULT_URL = 'http://%s:%d' % (opts.DEFAULT_HOST, opts.DEFAULT_PORT)


def _parser():
    parser = argparse.ArgumentParser(
        prog='congress-consumer-verify',
        description='Verify the replicas of a congress-consumer datasource '
                    'against their source and repair what differs.')
    parser.add_argument('datasource', help='datasource name')
    parser.add_argument('--table', help='only this table')
    parser.add_argument('--url', default=DEFAULT_URL,
                        help='base URL of the consumer API (default %s)'
                        % DEFAULT_URL)
    parser.add_argument('--timeout', type=float, default=300.0,
                        help='seconds to wait for the result (at most %d)'
                        % actions.MAX_WAIT)
    return parser


def request_url(base, datasource, table, timeout):
    """The URL of the verify action."""
    query = {'action': 'verify', 'wait': 'true', 'timeout': '%g' % timeout}
    if table:
        query['table'] = table
    return '%s/v1/data-sources/%s?%s' % (
        base.rstrip('/'), urllib.parse.quote(datasource, safe=''),
        urllib.parse.urlencode(query))


def exit_status(execution):
    """0, 1 or 3 for a finished, failed or unfinished execution."""
    if execution.get('status') == actions.RUNNING:
        return 3
    if execution.get('status') != actions.SUCCEEDED:
        return 1
    results = execution.get('result') or {}
    return 0 if all(r.get('verified') for r in results.values()) else 1


def main(argv=None, out=sys.stdout):
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    url = request_url(args.url, args.datasource, args.table, args.timeout)
    request = urllib.request.Request(url, data=b'', method='POST')
    try:
        with urllib.request.urlopen(request,
                                    timeout=args.timeout + 30) as answer:
            execution = json.loads(answer.read().decode('utf-8'))
    except urllib.error.HTTPError as exc:
        body = exc.read().decode('utf-8', 'replace')
        out.write('%s: %s\n' % (exc.code, body))
        return 2
    except (urllib.error.URLError, OSError, ValueError) as exc:
        out.write('cannot reach %s: %s\n' % (args.url, exc))
        return 2
    out.write(json.dumps(execution, indent=2, sort_keys=True) + '\n')
    return exit_status(execution)


if __name__ == '__main__':
    sys.exit(main())
