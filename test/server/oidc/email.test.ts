/** Email addresses the CA certifies: Fulcio's ASCII mailbox syntax, each refusal named in one line. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emailAddressProblem, isEmailAddress, quoteForMessage } from '../../../src/server/oidc/email.js';

test('accepts ASCII dot-atom addresses at LDH domains, IDNA A-labels included', () => {
  for (const ok of [
    'a@b.c',
    'alice@example.com',
    'First.Last+tag@sub.example.co.uk',
    "o'brien@example.com",
    "!#$%&'*+-/=?^_`{|}~@example.com",
    'x@xn--bcher-kva.de',
    'x@a-b.example',
    `${'a'.repeat(64)}@example.com`,
    `a@${'b'.repeat(63)}.com`,
    `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(57)}.com`,
  ]) {
    assert.equal(emailAddressProblem(ok), undefined, ok);
    assert.ok(isEmailAddress(ok));
  }
});

test('refuses NUL, control, space and non-ASCII bytes, two @, empty parts and over-long addresses, saying why', () => {
  const cases: Array<[string, RegExp]> = [
    ['a\u0000b@example.com', /control character U\+0000/],
    ['a\u007fb@example.com', /control character U\+007F/],
    ['a\tb@example.com', /control character U\+0009/],
    ['alice@example.com\u0000', /domain contains the control character U\+0000/],
    ['a\nb@example.com', /control character U\+000A/],
    ['a b@example.com', /contains a space/],
    ['alice@exa mple.com', /domain contains a space/],
    ['jösé@example.com', /non-ASCII character U\+00F6/],
    ['\u0430lice@example.com', /non-ASCII character U\+0430/],
    ['alice@bücher.de', /not ASCII; use its IDNA form xn--bcher-kva\.de/],
    ['a@b@example.com', /more than one "@"/],
    ['alice', /no "@"/],
    ['', /empty/],
    ['@example.com', /before "@" is empty/],
    ['alice@', /domain after "@" is empty/],
    ['.alice@example.com', /empty dot-separated part/],
    ['alice.@example.com', /empty dot-separated part/],
    ['al..ice@example.com', /empty dot-separated part/],
    ['"a b"@example.com', /quoted local parts/],
    ['a(comment)@example.com', /contains "\("/],
    ['a,b@example.com', /contains ","/],
    ['alice@localhost', /has no "\."/],
    ['alice@example..com', /empty label/],
    ['alice@example.com.', /empty label/],
    ['alice@-example.com', /label "-example"/],
    ['alice@exa_mple.com', /label "exa_mple"/],
    ['alice@[192.0.2.1]', /label "\[192"/],
    ['alice@192.0.2.1', /numeric label/],
    ['alice@xn--zz.com', /not valid punycode/],
    [`${'a'.repeat(65)}@example.com`, /longer than 64/],
    [`a@${'b'.repeat(64)}.com`, /label "b{64}"/],
    [`${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.com`, /longer than 254/],
  ];
  for (const [bad, why] of cases) {
    const problem = emailAddressProblem(bad);
    assert.ok(problem !== undefined, JSON.stringify(bad));
    assert.match(problem, why, JSON.stringify(bad));
    assert.ok(!/[\u0000-\u001f\u007f]/.test(problem), `the reason for ${JSON.stringify(bad)} echoes a control character`);
    assert.equal(isEmailAddress(bad), false);
  }
  assert.equal(isEmailAddress(42), false);
  assert.equal(isEmailAddress(undefined), false);
});

test('quotes an address for a message without control or non-ASCII characters, bounded', () => {
  assert.equal(quoteForMessage('a\u0000ö@x'), '"a\\u0000\\u00f6@x"');
  assert.equal(quoteForMessage('x'.repeat(200)).length, 85);
});
