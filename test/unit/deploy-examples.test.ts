// Checks the deployment recipes that no test can run here (no Docker, no cluster):
// examples/Dockerfile (RAAS as PID 1 on the official Node image, TERM, the reaper built,
// HEALTHCHECK on the admin listener's /healthz, reacting within the lame duck) and
// examples/kubernetes/raas.yaml (parsed with the `yaml` package: startup, readiness and liveness
// on the admin /healthz, readiness within the lame duck, liveness slower than a whole stop,
// grace period above preStop + lame-duck + shutdown-timeout, WEB_CONCURRENCY from the CPU
// limit, a Service on the pods' ports); and that the README shows these recipes as they are.
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

  it('HEALTHCHECK asks the admin /healthz for a 200, and sees a lame duck before it ends', () => {
    const [health] = inFinal('HEALTHCHECK');
    assert.ok(health);
    const { values } = parseArgv(JSON.parse(inFinal('CMD')[0]!.args) as string[]);
    const admin = new URL(String(values.admin));
    assert.equal(admin.hostname, '127.0.0.1', 'the check runs inside the container: loopback is enough');
    assert.match(health.args, new RegExp(`CMD .*http://127\\.0\\.0\\.1:${admin.port}/healthz`));
    assert.match(health.args, /statusCode === 200/);
    const option = (name: string): number => Number(new RegExp(`--${name}=(\\d+)s?\\b`).exec(health.args)?.[1]);
    assert.ok(option('interval') * option('retries') < Number(values.lameDuck), 'unhealthy within the lame duck');
    assert.ok(option('timeout') < option('interval'));
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

  it('startup, readiness and liveness ask the admin listener\'s /healthz', () => {
    const { values } = parseArgv(container.args as string[]);
    const admin = new URL(String(values.admin));
    // The kubelet probes the pod's IP: the admin listener must listen there.
    assert.equal(admin.hostname, '0.0.0.0');
    const adminPort = (container.ports as Array<{ name: string; containerPort: number }>).find((p) => p.containerPort === Number(admin.port));
    assert.ok(adminPort, 'the admin port is a container port');
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      assert.deepEqual(container[probe].httpGet, { path: '/healthz', port: adminPort.name }, probe);
    }
    for (const port of service.spec.ports as Array<{ targetPort: string }>) assert.notEqual(port.targetPort, adminPort.name, 'the admin listener is not in the Service');
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
    assert.ok(ready.periodSeconds * ready.failureThreshold < lameDuck, 'readiness fails within the lame duck, while the pod serves');
    assert.ok(pod.terminationGracePeriodSeconds > preStop + lameDuck + shutdownTimeout, 'grace period > preStop + lame-duck + shutdown-timeout');
    // /healthz is 503 for the whole stop: a liveness failure must take longer than that.
    const live = container.livenessProbe;
    assert.ok(live.periodSeconds * live.failureThreshold > preStop + lameDuck + shutdownTimeout, 'liveness slower than a whole stop');
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
    const { values } = parseArgv(container.args as string[]);
    const listens = [...(values.listen as string[]), String(values.admin)].join(' ');
    for (const port of container.ports as Array<{ containerPort: number }>) assert.match(listens, new RegExp(`:${port.containerPort}\\b`));
  });
});

describe('README health-check recipes', () => {
  const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Health checks'));
  const block = (lang: string): string => {
    const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(section);
    assert.ok(m, `a ${lang} block in the README's Health checks`);
    return m[1]!;
  };

  it('the Dockerfile lines are examples/Dockerfile\'s, as they are', () => {
    const dockerfile = fs.readFileSync(path.join(REPO_ROOT, 'examples', 'Dockerfile'), 'utf8').split('\n');
    for (const line of block('dockerfile').split('\n').filter(Boolean)) assert.ok(dockerfile.includes(line), `examples/Dockerfile has: ${line}`);
  });

  it('the probes are examples/kubernetes/raas.yaml\'s, as they are', () => {
    const docs = parseAllDocuments(fs.readFileSync(path.join(REPO_ROOT, 'examples', 'kubernetes', 'raas.yaml'), 'utf8'));
    const deployment = docs.map((d) => d.toJS() as Record<string, any>).find((o) => o.kind === 'Deployment')!;
    const container = deployment.spec.template.spec.containers.find((c: { name: string }) => c.name === 'raas');
    const shown = parseAllDocuments(block('yaml'))[0]!.toJS() as Record<string, unknown>;
    assert.deepEqual(Object.keys(shown).sort(), ['livenessProbe', 'readinessProbe', 'startupProbe']);
    for (const [probe, spec] of Object.entries(shown)) assert.deepEqual(spec, container[probe], probe);
  });
});
