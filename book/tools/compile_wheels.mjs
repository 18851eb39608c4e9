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
        except Exception as error:  # bytecode is an optimisation: report, go on
            failed[module] = f"{type(error).__name__}: {error}"
    files = (getattr(m, "__file__", None) for m in list(sys.modules.values()))
    return {Path(f).relative_to(SITE).as_posix() for f in files if f and Path(f).is_relative_to(SITE)}, failed


def add_bytecode(source, target, wanted):
    """Each wanted module's bytecode goes to its __pycache__ beside the kept source,
    as an unchecked-hash pyc: valid whatever the unpacked files' mtimes."""
    added = {}
    with zipfile.ZipFile(source) as wheel, tempfile.TemporaryDirectory() as scratch:
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
                if info.filename.endswith(".dist-info/RECORD"):
                    data += "".join(f"{name},,\\n" for name in added).encode()
                out.writestr(info, data)
            for name, data in added.items():
                out.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
    return len(added)
`;

const pyodideDir = process.argv[2];
const request = JSON.parse(readFileSync(0, "utf8"));
const { loadPyodide } = await import(pathToFileURL(join(pyodideDir, "pyodide.mjs")).href);
const pyodide = await loadPyodide({ indexURL: pyodideDir + "/", stdout: () => {}, stderr: () => {} });
pyodide.runPython(COMPILE);
const names = request.wheels.map((_, index) => `/tmp/${index}.whl`);
request.wheels.forEach(([input], index) => pyodide.FS.writeFile(names[index], readFileSync(input)));
names.forEach((name) => pyodide.globals.get("install")(name));
const [wanted, failed] = pyodide.globals.get("imported_files")(request.imports);
const compiled = {};
request.wheels.forEach(([, output], index) => {
  compiled[output] = pyodide.globals.get("add_bytecode")(names[index], "/tmp/out.whl", wanted);
  writeFileSync(output, pyodide.FS.readFile("/tmp/out.whl"));
});
console.log(JSON.stringify({ compiled, failed: failed.toJs({ dict_converter: Object.fromEntries }) }));
