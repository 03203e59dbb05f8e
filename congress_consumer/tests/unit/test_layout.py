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

"""The layout stays as documented in doc/source/reference/layout.rst.

* The consumer imports of the producer only the modules the document
  lists (the protocol and a few public entry points).
* The protocol imports nothing of either side but the producer's
  exceptions.
* No import cycle among the modules of the product code.
"""

import ast
import os
import re

import testtools

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
LAYOUT_DOC = os.path.join(REPO, 'doc', 'source', 'reference', 'layout.rst')
PRODUCT = ('oslo_publish_tables', 'congress_consumer', 'publish_tables_demo',
           'tools')
PRODUCER = 'oslo_publish_tables'
PROTOCOL = 'oslo_publish_tables.protocol'


def _modules(package):
    """``{module name: path}`` of ``package``'s non-test modules."""
    found = {}
    top = os.path.join(REPO, package)
    for root, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d not in ('tests', '__pycache__')
                         and os.path.exists(os.path.join(root, d,
                                                         '__init__.py')))
        for name in files:
            if not name.endswith('.py'):
                continue
            path = os.path.join(root, name)
            parts = os.path.relpath(path, REPO)[:-3].split(os.sep)
            if parts[-1] == '__init__':
                parts.pop()
            found['.'.join(parts)] = path
    return found


def _imports(path, known):
    """Modules ``path`` imports (anywhere in it), as ``known`` names them.

    ``from a.b import c`` names ``a.b.c`` if that is a module, else
    ``a.b``.
    """
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            for alias in node.names:
                full = '%s.%s' % (node.module, alias.name)
                names.add(full if full in known else node.module)
    return names


def allowed_consumer_imports():
    """The modules of the producer layout.rst lets the consumer import."""
    with open(LAYOUT_DOC) as f:
        text = f.read()
    section = text.split('What the consumer may import of the producer')[1]
    return set(re.findall(r'^\* ``(oslo_publish_tables[\w.]*)``', section,
                          re.M))


class LayoutTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.modules = {}
        for package in PRODUCT:
            self.modules.update(_modules(package))

    def _imports_of(self, prefix):
        return {name: _imports(path, self.modules)
                for name, path in self.modules.items()
                if name == prefix or name.startswith(prefix + '.')}

    def test_documented_list_is_read(self):
        allowed = allowed_consumer_imports()
        self.assertIn(PROTOCOL, allowed)
        self.assertIn('oslo_publish_tables.exceptions', allowed)
        for name in allowed - {PROTOCOL}:
            self.assertIn(name, self.modules, 'layout.rst names %s' % name)

    def test_consumer_imports_only_documented_producer_modules(self):
        allowed = allowed_consumer_imports()
        wrong = []
        for module, imported in sorted(self._imports_of(
                'congress_consumer').items()):
            for name in sorted(imported):
                if name != PRODUCER and not name.startswith(PRODUCER + '.'):
                    continue
                if name.startswith(PROTOCOL + '.') or name in allowed:
                    continue
                wrong.append('%s imports %s' % (module, name))
        self.assertEqual([], wrong)

    def test_protocol_imports_no_side(self):
        wrong = []
        for module, imported in sorted(self._imports_of(PROTOCOL).items()):
            for name in sorted(imported):
                if name.split('.')[0] not in PRODUCT:
                    continue
                if name.startswith(PROTOCOL) or \
                        name == 'oslo_publish_tables.exceptions':
                    continue
                wrong.append('%s imports %s' % (module, name))
        self.assertEqual([], wrong)

    def test_no_import_cycles(self):
        graph = {name: {i for i in _imports(path, self.modules)
                        if i in self.modules and i != name}
                 for name, path in self.modules.items()}
        cycles = [sorted(c) for c in _strongly_connected(graph)
                  if len(c) > 1]
        self.assertEqual([], cycles)

    def test_cycle_finder_finds_a_cycle(self):
        graph = {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}
        self.assertEqual([['a', 'b', 'c']],
                         [sorted(c) for c in _strongly_connected(graph)
                          if len(c) > 1])


def _strongly_connected(graph):
    """Tarjan's strongly connected components of ``graph``, iteratively."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(component)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return components
