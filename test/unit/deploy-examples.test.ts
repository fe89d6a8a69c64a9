// Checks the deployment recipes that no test can run here (no Docker, no cluster):
// examples/Dockerfile (RAAS as PID 1 on the official Node image, TERM, the reaper built,
// HEALTHCHECK on /healthz) and examples/kubernetes/raas.yaml (parsed with the `yaml` package:
// readiness on /healthz, liveness, grace period above preStop + lame-duck + shutdown-timeout,
// WEB_CONCURRENCY from the CPU limit, a Service on the pods' ports).
// Runs in: the test runner process.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { parseArgv } from '../../src/config/load.js';
import { REPO_ROOT } from '../helpers/raas.js';

interface Instruction {
  keyword: string;
  args: string;
}

/** Dockerfile instructions: comments dropped, backslash continuations joined. */
function parseDockerfile(text: string): Instruction[] {
  const lines = text.split('\n').filter((l) => !/^\s*#/.test(l));
  const joined = lines.join('\n').replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const m = /^(\S+)\s*(.*)$/.exec(l)!;
      return { keyword: m[1]!.toUpperCase(), args: m[2]! };
    });
}

describe('examples/Dockerfile', () => {
  const instructions = parseDockerfile(fs.readFileSync(path.join(REPO_ROOT, 'examples', 'Dockerfile'), 'utf8'));
  const all = (keyword: string) => instructions.filter((i) => i.keyword === keyword);
  const finalStage = instructions.slice(instructions.map((i) => i.keyword).lastIndexOf('FROM'));
  const inFinal = (keyword: string) => finalStage.filter((i) => i.keyword === keyword);

  it('builds on the official Node image', () => {
    for (const from of all('FROM')) assert.match(from.args, /^node:\d+[\w.-]*(\s+AS\s+\w+)?$/i);
  });

  it('builds the reaper and fails when it is missing', () => {
    const runs = all('RUN').map((r) => r.args);
    assert.ok(runs.some((r) => /npm ci/.test(r)), 'npm ci runs node-gyp (the install script)');
    assert.ok(runs.some((r) => /g\+\+/.test(r) && /make/.test(r) && /python3/.test(r)), 'node-gyp\'s toolchain is installed');
    assert.ok(runs.some((r) => /test -f build\/Release\/reaper\.node/.test(r)));
  });

  it('runs RAAS itself as PID 1 (exec form, no shell, no init), stopped by TERM', () => {
    const [entrypoint] = inFinal('ENTRYPOINT');
    assert.ok(entrypoint);
    const argv = JSON.parse(entrypoint.args) as string[];
    // bin/raas execs node (with --disable-sigusr1): node itself ends up PID 1.
    assert.deepEqual(argv.slice(0, 1), ['bin/raas']);
    assert.match(fs.readFileSync(path.join(REPO_ROOT, 'bin', 'raas'), 'utf8'), /^exec node /m);
    assert.ok(!argv.some((a) => /tini|dumb-init|^sh$|bash/.test(a)));
    const stop = inFinal('STOPSIGNAL')[0]?.args ?? 'SIGTERM';
    assert.match(stop, /^(SIG)?TERM$/);
    // The command line it runs parses, with a lame duck shorter than the shutdown timeout.
    const [cmd] = inFinal('CMD');
    const { values } = parseArgv(JSON.parse(cmd!.args) as string[]);
    assert.ok(Number(values.lameDuck) > 0 && Number(values.lameDuck) < Number(values.shutdownTimeout));
  });

  it('HEALTHCHECK asks /healthz for a 200', () => {
    const [health] = inFinal('HEALTHCHECK');
    assert.ok(health);
    assert.match(health.args, /CMD .*\/healthz/);
    assert.match(health.args, /statusCode === 200/);
  });
});

describe('examples/kubernetes/raas.yaml', () => {
  const docs = parseAllDocuments(fs.readFileSync(path.join(REPO_ROOT, 'examples', 'kubernetes', 'raas.yaml'), 'utf8'));
  for (const doc of docs) assert.deepEqual(doc.errors, []);
  const objects = docs.map((d) => d.toJS()) as Array<Record<string, any>>;
  const deployment = objects.find((o) => o.kind === 'Deployment')!;
  const service = objects.find((o) => o.kind === 'Service')!;
  const pod = deployment?.spec?.template?.spec;
  const container = pod?.containers?.find((c: { name: string }) => c.name === 'raas');

  it('has a Deployment with the raas container and a Service', () => {
    assert.ok(deployment && service && container);
    assert.equal(deployment.apiVersion, 'apps/v1');
    assert.equal(deployment.spec.strategy.rollingUpdate.maxUnavailable, 0);
  });

  it('readiness on /healthz, and a liveness probe that does not fail during lame duck', () => {
    const ready = container.readinessProbe;
    assert.equal(ready.httpGet.path, '/healthz');
    assert.ok(container.livenessProbe, 'a liveness probe');
    assert.notEqual(container.livenessProbe.httpGet?.path, '/healthz', '/healthz is 503 on purpose while stopping');
  });

  it('the timeouts nest: readiness reacts within preStop + lame-duck, the grace period covers the whole stop', () => {
    const { values } = parseArgv(container.args as string[]);
    const lameDuck = Number(values.lameDuck);
    const shutdownTimeout = Number(values.shutdownTimeout);
    const command = container.lifecycle.preStop.exec?.command as string[] | undefined;
    const preStop = Number(container.lifecycle.preStop.sleep?.seconds ?? command?.[1]);
    assert.ok(command === undefined || command[0] === 'sleep');
    assert.ok(preStop > 0, 'a preStop delay lets endpoints catch up');
    assert.ok(lameDuck > 0 && shutdownTimeout > 0);
    const ready = container.readinessProbe;
    assert.ok(ready.periodSeconds * ready.failureThreshold < preStop + lameDuck);
    assert.ok(pod.terminationGracePeriodSeconds > preStop + lameDuck + shutdownTimeout, 'grace period > preStop + lame-duck + shutdown-timeout');
  });

  it('WEB_CONCURRENCY comes from the CPU limit', () => {
    const env = (container.env as Array<Record<string, any>>).find((e) => e.name === 'WEB_CONCURRENCY')!;
    assert.equal(env.valueFrom.resourceFieldRef.resource, 'limits.cpu');
    assert.equal(env.valueFrom.resourceFieldRef.containerName, 'raas');
    assert.ok(container.resources.limits.cpu);
  });

  it('the Service selects the pods and targets their named ports', () => {
    for (const [key, value] of Object.entries(service.spec.selector as Record<string, string>)) {
      assert.equal(deployment.spec.template.metadata.labels[key], value);
    }
    const portNames = (container.ports as Array<{ name: string }>).map((p) => p.name);
    for (const port of service.spec.ports as Array<{ targetPort: string }>) assert.ok(portNames.includes(port.targetPort));
    const listens = (parseArgv(container.args as string[]).values.listen as string[]).join(' ');
    for (const port of container.ports as Array<{ containerPort: number }>) assert.match(listens, new RegExp(`:${port.containerPort}\\b`));
  });
});
