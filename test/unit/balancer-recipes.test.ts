// Unit: the rules that tie RAAS's settings to the balancer recipes (examples/nginx.conf,
// examples/haproxy.cfg), read from the recipes themselves: the `raas ...` line each gives its
// instances must have a --keep-alive-timeout that outlasts the balancer's idle upstream
// keep-alive (nginx: keepalive_timeout in the upstream block; haproxy: timeout server), and
// haproxy's checks must mark a lame server down within the lame duck. The balancer integration
// tests run the same files (and RAAS with the same keep-alive-timeout) under load.
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { durationSeconds, recipeRaasCommand, recipeText } from '../helpers/recipes.js';

describe('examples/nginx.conf', () => {
  const text = recipeText('nginx.conf');
  const { values } = recipeRaasCommand('nginx.conf');

  it('RAAS keeps an idle connection longer than nginx keeps it for reuse', () => {
    const upstream = /upstream raas_http \{([\s\S]*?)\n    \}/.exec(text)?.[1];
    assert.ok(upstream, 'the raas_http upstream block');
    assert.match(upstream, /^\s*keepalive \d+;/m, 'upstream keep-alive is on');
    const idle = /^\s*keepalive_timeout (\S+);/m.exec(upstream)?.[1];
    assert.ok(idle, 'keepalive_timeout is set in the upstream (nginx defaults it to 60 s)');
    assert.ok(Number(values.keepAliveTimeout) > durationSeconds(idle, 's'), `--keep-alive-timeout ${String(values.keepAliveTimeout)} > keepalive_timeout ${idle}`);
  });

  it('the comments state the rule with the setting', () => {
    assert.match(text, /--keep-alive-timeout \(\d+ s[^)]*\) must outlast/);
  });
});

describe('examples/haproxy.cfg', () => {
  const text = recipeText('haproxy.cfg');
  const { values } = recipeRaasCommand('haproxy.cfg');
  /** A setting's production value: "${NAME-default}" stands for its default. */
  const setting = (pattern: RegExp): string => {
    const raw = pattern.exec(text)?.[1];
    assert.ok(raw, `haproxy.cfg has ${pattern}`);
    return raw.replace(/^"?\$\{\w+-([^}]*)\}"?$/, '$1');
  };

  it('RAAS keeps an idle connection longer than haproxy keeps it for reuse (timeout server)', () => {
    const server = durationSeconds(setting(/^\s*timeout server (\S+)/m), 'ms');
    assert.ok(Number(values.keepAliveTimeout) > server, `--keep-alive-timeout ${String(values.keepAliveTimeout)} > timeout server ${server} s`);
    assert.doesNotMatch(text, /^\s*http-reuse never/m, 'server-side keep-alive is what the rule is about');
  });

  it('the checks mark a lame server down within the lame duck', () => {
    const inter = durationSeconds(setting(/default-server .*\binter ("[^"]+"|\S+)/), 'ms');
    const fastinter = durationSeconds(setting(/default-server .*\bfastinter ("[^"]+"|\S+)/), 'ms');
    const fall = Number(/default-server .*\bfall (\d+)/.exec(text)?.[1]);
    assert.ok(fall >= 1);
    assert.ok(inter + fastinter * (fall - 1) < Number(values.lameDuck), 'check window < lame-duck');
    assert.ok(Number(values.lameDuck) < Number(values.shutdownTimeout));
  });

  it('the comments state the rule with the setting', () => {
    assert.match(text, /--keep-alive-timeout \(\d+ s[^)]*\) must outlast/);
  });
});
