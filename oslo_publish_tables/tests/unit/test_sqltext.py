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

"""Which published tables SQL text writes: names found word by word."""

import testtools

from oslo_publish_tables.capture import sqltext


class TextWritesTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.text = sqltext.TextWrites(
            ['instances', 'instance_extra', 'Tags', 'odd-name', 'a.b'])

    def test_whole_words_only_any_case(self):
        self.assertEqual(
            ('instance_extra', 'instances'),
            self.text.tables('UPDATE INSTANCES JOIN "instance_extra" x '
                             'SET x.a = 1 WHERE instances_id = 2'))
        self.assertEqual((), self.text.tables(
            'UPDATE instances_archive SET a = 1'))
        self.assertEqual(('Tags',), self.text.tables('delete from tags'))

    def test_reads_write_nothing(self):
        self.assertEqual((), self.text.tables('SELECT * FROM instances'))

    def test_names_that_are_not_one_word(self):
        self.assertEqual(('odd-name',), self.text.tables(
            'INSERT INTO `odd-name` VALUES (1)'))
        self.assertEqual(('a.b', 'instances'), self.text.tables(
            'WITH d AS (DELETE FROM instances) UPDATE "a.b" SET x = 1'))
        self.assertEqual((), self.text.tables('UPDATE odd SET name = 1'))
