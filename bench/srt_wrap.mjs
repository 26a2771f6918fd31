// node srt_wrap.mjs PACKAGE_DIR SETTINGS COMMAND [hold]: prints, as one JSON line, the argv
// that srt's own library builds to run COMMAND under the settings file in the current
// directory (bench/srt.py reads what srt enforces from it, and runs it). With `hold` the
// library stays up, its proxy serving, until stdin ends. The argv carries the proxy's
// per-run credential: the bench parses it and never prints it.
import { pathToFileURL } from 'node:url'

const [pkg, settings, command, hold] = process.argv.slice(2)
const lib = (rel) => import(pathToFileURL(`${pkg}/dist/${rel}`).href)
const { SandboxManager } = await lib('index.js')
const { loadConfig } = await lib('utils/config-loader.js')

const loaded = loadConfig(settings)
if (loaded.kind !== 'ok') {
  console.error(`settings ${settings}: ${loaded.reason ?? loaded.kind}`)
  process.exit(2)
}
await SandboxManager.initialize(loaded.config)
try {
  const { argv } = await SandboxManager.wrapWithSandboxArgv(command)
  console.log(JSON.stringify(argv))
  if (hold === 'hold') {
    await new Promise((resolve) => process.stdin.on('end', resolve).on('error', resolve).resume())
  }
} finally {
  SandboxManager.cleanupAfterCommand()
  await SandboxManager.reset()
}
