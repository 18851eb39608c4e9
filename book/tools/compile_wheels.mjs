// Add CPython bytecode for the modules that given imports load (the Pyodide
// kernel's start-up, the packages the chapters import) to the wheels that hold
// them, compiled by the Pyodide that will run them (the browser's Python is 3.14,
// the build's is not, and bytecode is version-specific). Without it the browser
// compiles IPython, jedi, nbformat and the rest from source at every launch:
// about half of their import time.
//
// Called by book/tools/lite.py: node compile_wheels.mjs PYODIDE_DIR < request.json
// request: {"imports": [module, ...], "wheels": [[input wheel, output wheel], ...]}
// prints {"compiled": {output wheel: modules compiled}, "failed": {module: error}}.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const COMPILE = `
import base64
import hashlib
import importlib
import importlib.util
import py_compile
import site
import sys
import tempfile
import zipfile
from pathlib import Path

SITE = Path(site.getsitepackages()[0])


def install(wheel):
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(SITE)


def imported_files(modules):
    """(the site-packages files, relative, that importing these modules loads,
    {module: error} for those that do not import here)."""
    failed = {}
    for module in modules:
        try:
            importlib.import_module(module)
        except BaseException as error:  # bytecode is an optimisation: report, go on
            failed[module] = f"{type(error).__name__}: {error}"
    files = (getattr(m, "__file__", None) for m in list(sys.modules.values()))
    return {Path(f).relative_to(SITE).as_posix() for f in files if f and Path(f).is_relative_to(SITE)}, failed


def record_row(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}\\n"


def add_bytecode(source, target, wanted):
    """Each wanted module's bytecode goes to its __pycache__ beside the kept source,
    as an unchecked-hash pyc: valid whatever the unpacked files' mtimes. RECORD
    lists each one, so an uninstall removes it."""
    added = {}
    with zipfile.ZipFile(source) as wheel, tempfile.TemporaryDirectory() as scratch:
        records = [n for n in wheel.namelist() if n.endswith(".dist-info/RECORD")]
        if len(records) != 1:
            raise ValueError(f"{len(records)} .dist-info/RECORD files in the wheel, not one")
        for name in wheel.namelist():
            if name not in wanted:
                continue
            path = Path(scratch, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(wheel.read(name))
            cached = importlib.util.cache_from_source(name)
            py_compile.compile(
                str(path), cfile=str(Path(scratch, cached)), dfile=str(SITE / name), doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
            added[cached] = Path(scratch, cached).read_bytes()
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
            for info in wheel.infolist():
                data = wheel.read(info)
                if info.filename == records[0]:
                    rows = "".join(record_row(name, pyc) for name, pyc in added.items())
                    data = data.rstrip(b"\\n") + b"\\n" + rows.encode()
                out.writestr(info, data)
            for name, data in added.items():
                entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                entry.external_attr = 0o644 << 16  # rw-r--r--, as the sources
                out.writestr(entry, data, zipfile.ZIP_DEFLATED)
    return len(added)
`;

const pyodideDir = process.argv[2];
const request = JSON.parse(readFileSync(0, "utf8"));
const { loadPyodide } = await import(pathToFileURL(join(pyodideDir, "pyodide.mjs")).href);
const pyodide = await loadPyodide({ indexURL: pyodideDir + "/", stdout: () => {}, stderr: () => {} });
pyodide.runPython(COMPILE);
const names = request.wheels.map((_, index) => `/tmp/${index}.whl`);
request.wheels.forEach(([input], index) => pyodide.FS.writeFile(names[index], readFileSync(input)));
request.wheels.forEach(([input], index) => {
  try {
    pyodide.globals.get("install")(names[index]);
  } catch (error) {
    console.error(`${input}: ${String(error.message ?? error).trim().split("\n").pop()}`);
    process.exit(1);
  }
});
const [wanted, failed] = pyodide.globals.get("imported_files")(request.imports);
const compiled = {};
request.wheels.forEach(([input, output], index) => {
  try {
    compiled[output] = pyodide.globals.get("add_bytecode")(names[index], "/tmp/out.whl", wanted);
  } catch (error) {
    console.error(`${input}: ${String(error.message ?? error).trim().split("\n").pop()}`);
    process.exit(1);
  }
  writeFileSync(output, pyodide.FS.readFile("/tmp/out.whl"));
});
console.log(JSON.stringify({ compiled, failed: failed.toJs({ dict_converter: Object.fromEntries }) }));
