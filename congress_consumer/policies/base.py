"""The rules other rules are made of: who is an admin, reader, service."""

from oslo_policy import policy

ADMIN = 'rule:context_is_admin'
READER = 'rule:reader'
SERVICE_OR_ADMIN = 'rule:service_or_admin'

RULES = [
    policy.RuleDefault(
        name='context_is_admin', check_str='role:admin',
        description='Administrators of the cloud.'),
    policy.RuleDefault(
        name='reader', check_str='role:admin or role:reader',
        description='Who may read replicas, schemas, status and '
                    'executions. Keystone implies reader from member '
                    'and admin.'),
    policy.RuleDefault(
        name='service_or_admin', check_str='role:admin or role:service',
        description='Services (a monitoring system pushing rows, a '
                    'watcher subscribing) and administrators.'),
]


def list_rules():
    return RULES
