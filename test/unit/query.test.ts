// Unit and property tests of the built-in endpoints' request-target parsing: the strict decoder
// (queryParam) and its fast path for queries with nothing to decode (plainQueryParam), which must
// give the same value whenever it answers.
// Runs in: the node:test runner process.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseTarget, plainQueryParam, queryParam } from '../../src/protocols/http/query.js';

describe('request-target parsing', () => {
  it('splits origin-form and absolute-form targets, dropping the fragment', () => {
    assert.deepEqual(parseTarget('/reverse?s=abc'), { path: '/reverse', query: 's=abc' });
    assert.deepEqual(parseTarget('http://h:1/reverse?s=a#x'), { path: '/reverse', query: 's=a' });
    assert.deepEqual(parseTarget('/healthz'), { path: '/healthz', query: null });
  });

  it('decodes escapes and + strictly, refusing a malformed escape', () => {
    assert.equal(queryParam('a=1&s=h%C3%A9llo+w', 's')?.toString('utf8'), 'héllo w');
    assert.equal(queryParam('s=%zz', 's'), null);
    assert.equal(queryParam('t=1', 's'), undefined);
    assert.equal(queryParam('%73=yes', 's')?.toString('latin1'), 'yes');
  });

  it('answers plain queries without decoding, and leaves the rest to queryParam', () => {
    assert.equal(plainQueryParam('s=hello', 's'), 'hello');
    assert.equal(plainQueryParam('a=1&s=x=y&s=second', 's'), 'x=y');
    assert.equal(plainQueryParam('s&t=1', 's'), '');
    assert.equal(plainQueryParam('s=', 's'), '');
    assert.equal(plainQueryParam('ss=1&xs=2', 's'), undefined);
    assert.equal(plainQueryParam('', 's'), undefined);
    for (const needsDecoding of ['s=a%20b', 's=a+b', '%73=1', 's=\u00e9']) assert.equal(plainQueryParam(needsDecoding, 's'), null);
  });

  it('agrees with queryParam on every query it answers', () => {
    // Printable ASCII and the separators, with the escape characters often enough to matter.
    const char = fc.constantFrom(...'s=&%+ab1~-._!$\'()*,;:@/?'.split(''), 'é');
    fc.assert(
      fc.property(fc.array(char, { maxLength: 24 }), (chars) => {
        const query = chars.join('');
        const plain = plainQueryParam(query, 's');
        if (plain === null) return;
        const decoded = queryParam(query, 's');
        assert.equal(plain, decoded === undefined || decoded === null ? decoded : decoded.toString('latin1'), `query ${JSON.stringify(query)}`);
      }),
      { numRuns: 2000 },
    );
  });
});
