#!/usr/bin/env node
// Builds the optional libtorch addon (native/ -> native/build/Release/torch_addon.node).
// Optional by construction: whatever goes wrong, it prints one line and exits 0 so `npm install` never
// fails; the torch engine then reports why it is unavailable. Set REGNET_SKIP_NATIVE=1 to skip.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const logFile = join(nativeDir, 'build', 'build-native.log');

function done(msg) {
  console.log(`[regnet] torch addon: ${msg}`);
  process.exit(0);
}

/** Multiarch library dirs where Debian/Ubuntu put libtorch. */
function systemLibDirs() {
  const dirs = [];
  try {
    for (const d of readdirSync('/usr/lib')) if (/-linux-gnu/.test(d)) dirs.push(join('/usr/lib', d));
  } catch {
    /* not linux */
  }
  return [...dirs, '/usr/lib64', '/usr/lib', '/usr/local/lib'];
}

/** Find libtorch: LIBTORCH (a libtorch zip or a PyTorch wheel's torch/ folder) or the system install. */
function findTorch() {
  const env = process.env.LIBTORCH;
  if (env) {
    const base = resolve(env);
    const inc = join(base, 'include');
    const lib = join(base, 'lib');
    if (!existsSync(join(inc, 'ATen', 'ATen.h')) || !existsSync(join(lib, 'libtorch.so')))
      return { error: `LIBTORCH=${env} has no include/ATen/ATen.h and lib/libtorch.so` };
    return {
      inc: [inc, join(inc, 'torch', 'csrc', 'api', 'include')],
      lib,
      cmake: join(base, 'share', 'cmake', 'Torch', 'TorchConfig.cmake'),
    };
  }
  for (const incRoot of ['/usr/include', '/usr/local/include']) {
    if (!existsSync(join(incRoot, 'ATen', 'ATen.h'))) continue;
    for (const lib of systemLibDirs()) {
      if (existsSync(join(lib, 'libtorch.so')))
        return {
          inc: [incRoot, join(incRoot, 'torch', 'csrc', 'api', 'include')],
          lib,
          cmake: join(lib, 'cmake', 'Torch', 'TorchConfig.cmake'),
        };
    }
  }
  return { error: 'libtorch not found: apt-get install libtorch-dev, or set LIBTORCH=/path/to/libtorch' };
}

/** PyTorch wheels before 2.x use the pre-C++11 string ABI; the CMake config says which. */
function cxx11Abi(cmake) {
  try {
    const m = /_GLIBCXX_USE_CXX11_ABI=(\d)/.exec(readFileSync(cmake, 'utf8'));
    if (m) return m[1];
  } catch {
    /* no cmake config: assume the modern ABI */
  }
  return '1';
}

/** node-gyp candidates: PATH (npm lifecycle scripts), npm's bundled copy, `npm exec`. */
function nodeGypCommands() {
  const cmds = [['node-gyp', []]];
  const npmCli = process.env.npm_execpath;
  const bundled = [
    npmCli && join(dirname(npmCli), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ].filter(Boolean);
  for (const b of bundled) if (existsSync(b)) cmds.push([process.execPath, [b]]);
  cmds.push(['npm', ['exec', '--no', '--', 'node-gyp']]);
  return cmds;
}

if (process.env.REGNET_SKIP_NATIVE === '1') done('skipped (REGNET_SKIP_NATIVE=1)');
if (process.platform !== 'linux' && !process.env.LIBTORCH) done('skipped: only linux is auto-detected; set LIBTORCH=/path/to/libtorch');

let addonInclude;
try {
  addonInclude = (await import('node-addon-api')).default.include_dir;
} catch {
  done('not built: node-addon-api is not installed');
}
if (!addonInclude) done('not built: node-addon-api is not installed');

const torch = findTorch();
if (torch.error) done(`not built: ${torch.error}`);

const extraLibs = existsSync(join(torch.lib, 'libtorch_cuda.so')) ? '-ltorch_cuda' : '';

/**
 * The c10d backends native/distributed.cc can compile: Gloo where its headers are found (Debian:
 * libgloo-dev; PyTorch wheels ship them), NCCL with a CUDA libtorch that has ProcessGroupNCCL.hpp.
 */
function distDefines() {
  const roots = [...torch.inc, '/usr/include', '/usr/local/include'];
  const has = (rel) => roots.some((r) => existsSync(join(r, rel)));
  const c10d = join('torch', 'csrc', 'distributed', 'c10d');
  const defs = [];
  if (has(join(c10d, 'ProcessGroupGloo.hpp')) && has(join('gloo', 'algorithm.h'))) defs.push('REGNET_C10D_GLOO');
  if (extraLibs && has(join(c10d, 'ProcessGroupNCCL.hpp')) && has('nccl.h')) defs.push('REGNET_C10D_NCCL');
  return defs;
}
const dist = distDefines();
const env = {
  ...process.env,
  // offline builds need Node's local headers
  npm_config_nodedir: process.env.npm_config_nodedir || (existsSync('/usr/include/node/node_api.h') ? '/usr' : ''),
  TORCH_INCLUDE_DIRS: torch.inc.join(' '),
  TORCH_LIB_DIR: torch.lib,
  TORCH_CXX11_ABI: cxx11Abi(torch.cmake),
  TORCH_EXTRA_LIBS: extraLibs,
  TORCH_DIST_DEFINES: dist.join(' '),
};
if (!env.npm_config_nodedir) delete env.npm_config_nodedir;

let log = '';
for (const [cmd, pre] of nodeGypCommands()) {
  const r = spawnSync(cmd, [...pre, 'rebuild'], { cwd: nativeDir, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) {
    log += `\n$ ${cmd} ${pre.join(' ')} rebuild: ${r.error.message}\n`;
    continue;
  }
  log += `\n$ ${cmd} ${pre.join(' ')} rebuild (exit ${r.status})\n${r.stdout}\n${r.stderr}`;
  if (r.status === 0 && existsSync(join(nativeDir, 'build', 'Release', 'torch_addon.node'))) {
    mkdirSync(dirname(logFile), { recursive: true });
    writeFileSync(logFile, log);
    const backends = dist.length ? dist.map((d) => d.replace('REGNET_C10D_', '').toLowerCase()).join(', ') : 'none: no Gloo headers';
    done(`built against ${torch.lib}${extraLibs ? ' (with CUDA)' : ''}; distributed backends: ${backends}`);
  }
  // a compile error will not go away with another node-gyp; only retry when node-gyp itself was missing
  if (!/not found|ENOENT|could not determine executable/i.test(r.stderr ?? '')) break;
}
try {
  mkdirSync(dirname(logFile), { recursive: true });
  writeFileSync(logFile, log);
} catch {
  /* read-only tree: nothing more to do */
}
done(`build failed (the torch engine stays unavailable; details in ${logFile})`);
