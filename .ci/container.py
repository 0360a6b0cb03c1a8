#!/usr/bin/env python3
"""Reproduces the Dockerfile's image without a container engine, so CI notices when the image
cannot be built or does not start.

`build WORK`: the build context is the repository filtered by .dockerignore; the first stage's
COPY lines are copied into WORK/build (its WORKDIR) and its RUN lines run there, in order, as the
Dockerfile has them. The stage's `target/` is a link to $CARGO_TARGET_DIR (when set), so
dependencies compiled elsewhere are reused; the RUN lines act on it as they would in the image.
Then the last stage's COPY lines (`--from=<stage>` included) lay out WORK/image, and its ENV,
USER, WORKDIR, ENTRYPOINT, CMD and HEALTHCHECK are written to WORK/image.json. The last stage's
RUN lines (packages, the user) are not run: they change the system, not the layout.

`run WORK [ARGS...]`: runs the image's ENTRYPOINT with ARGS (or its CMD) as `docker run` would:
in its WORKDIR, with its ENV (plus the caller's PSPI__* variables, as `-e` would pass them), as
an unprivileged user when the image names one (`nobody` stands in for it), its binaries first
on PATH.
`healthcheck WORK`: runs the HEALTHCHECK command the same way.

Any instruction this script does not know stops it, so the check cannot silently drift from the
Dockerfile.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def instructions(dockerfile):
    """(keyword, argument) pairs, continuation lines joined, comments dropped."""
    out, current = [], ""
    for line in dockerfile.read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        keyword, _, arg = current.partition(" ")
        out.append((keyword.upper(), arg.strip()))
        current = ""
    return out


def stages(dockerfile):
    """[(name, [(keyword, arg)])] per FROM."""
    result = []
    for keyword, arg in instructions(dockerfile):
        if keyword == "FROM":
            parts = arg.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else str(len(result))
            result.append((name, []))
        elif not result:
            sys.exit(f"container.py: {keyword} before FROM")
        else:
            result[-1][1].append((keyword, arg))
    return result


def ignore_rules(context):
    rules = []
    path = context / ".dockerignore"
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            pattern = line[1:] if negate else line
            pattern = os.path.normpath(pattern.strip("/"))
            regex = re.escape(pattern).replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
            regex = regex.replace(r"\?", "[^/]")
            rules.append((negate, re.compile(f"^{regex}$"), pattern))
    return rules


def excluded(rel, rules):
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = rel.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    verdict = False
    for negate, regex, _ in rules:
        if any(regex.match(c) for c in candidates):
            verdict = not negate
    return verdict


def context_files(context):
    """Every file of the build context (relative paths), after .dockerignore."""
    rules = ignore_rules(context)
    negated = [p for neg, _, p in rules if neg]
    files = []
    for dirpath, dirnames, filenames in os.walk(context):
        rel_dir = os.path.relpath(dirpath, context)
        rel_dir = "" if rel_dir == "." else rel_dir
        keep = []
        for d in dirnames:
            rel = f"{rel_dir}/{d}" if rel_dir else d
            reopened = any(p == rel or p.startswith(rel + "/") or "*" in p for p in negated)
            if not excluded(rel, rules) or reopened:
                keep.append(d)
        dirnames[:] = keep
        for f in filenames:
            rel = f"{rel_dir}/{f}" if rel_dir else f
            if not excluded(rel, rules):
                files.append(rel)
    return set(files)


def copy_args(arg):
    """COPY [--from=X] SRC... DEST (shell or JSON form) -> (from, [src], dest)."""
    words = json.loads(arg) if arg.startswith("[") else shlex.split(arg)
    source = None
    while words and words[0].startswith("--"):
        flag = words.pop(0)
        if flag.startswith("--from="):
            source = flag.split("=", 1)[1]
        else:
            sys.exit(f"container.py: COPY flag {flag} is not reproduced; extend the script")
    if len(words) < 2:
        sys.exit(f"container.py: COPY {arg}: needs a source and a destination")
    return source, words[:-1], words[-1]


def mapped(root, workdir, path):
    """An image path (absolute, or relative to WORKDIR) inside the directory `root`."""
    full = path if path.startswith("/") else os.path.join(workdir, path)
    return root / os.path.normpath(full).lstrip("/")


def copy_from_context(context, files, sources, dest, workdir, root):
    target = mapped(root, workdir, dest)
    many = len(sources) > 1 or dest.endswith("/")
    for src in sources:
        src = os.path.normpath(src)
        if src in files:
            out = target / Path(src).name if many or target.is_dir() else target
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(context / src, out)
            continue
        inside = sorted(f for f in files if f.startswith(src + "/"))
        if not inside:
            sys.exit(f"container.py: COPY {src}: not in the build context (after .dockerignore)")
        for f in inside:
            out = target / os.path.relpath(f, src)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(context / f, out)


def copy_from_stage(stage_root, stage_workdir, sources, dest, workdir, root):
    target = mapped(root, workdir, dest)
    for src in sources:
        path = mapped(stage_root, stage_workdir, src).resolve()
        if not path.exists():
            sys.exit(f"container.py: COPY --from: {src} was not built")
        out = target / path.name if dest.endswith("/") else target
        out.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            shutil.copytree(path, out, dirs_exist_ok=True)
        else:
            shutil.copy2(path, out)


def run_build_stage(steps, context, files, root):
    workdir, env = "/", dict(os.environ)
    target_dir = env.pop("CARGO_TARGET_DIR", None)
    for keyword, arg in steps:
        if keyword == "WORKDIR":
            workdir = os.path.join(workdir, arg)
            mapped(root, workdir, ".").mkdir(parents=True, exist_ok=True)
            link = mapped(root, workdir, "target")
            if target_dir and not link.exists():
                link.symlink_to(target_dir)
        elif keyword == "COPY":
            source, sources, dest = copy_args(arg)
            if source:
                sys.exit("container.py: COPY --from in the build stage is not reproduced")
            copy_from_context(context, files, sources, dest, workdir, root)
        elif keyword == "ENV":
            env.update(parse_env(arg))
        elif keyword == "ARG":
            # The caller's environment stands for `--build-arg`; else the default.
            name, _, default = arg.partition("=")
            env.setdefault(name.strip(), default)
        elif keyword == "RUN":
            command = json.loads(arg) if arg.startswith("[") else ["/bin/sh", "-ec", arg]
            print(f"container.py: RUN {arg}", flush=True)
            done = subprocess.run(command, cwd=mapped(root, workdir, "."), env=env)
            if done.returncode != 0:
                sys.exit(f"container.py: RUN failed with exit code {done.returncode}: {arg}")
        else:
            sys.exit(f"container.py: {keyword} in the build stage is not reproduced; extend it")
    return workdir


def parse_env(arg):
    words = shlex.split(arg)
    if len(words) == 2 and "=" not in words[0]:
        return {words[0]: words[1]}
    return dict(w.split("=", 1) for w in words)


def exec_form(arg):
    return json.loads(arg) if arg.startswith("[") else ["/bin/sh", "-c", arg]


def build(work):
    work = Path(work).resolve()
    context, dockerfile = ROOT, ROOT / "Dockerfile"
    all_stages = stages(dockerfile)
    files = context_files(context)
    print(f"container.py: build context: {len(files)} files after .dockerignore", flush=True)
    roots = {}
    for name, steps in all_stages[:-1]:
        root = work / f"stage-{name}"
        root.mkdir(parents=True, exist_ok=True)
        roots[name] = (root, run_build_stage(steps, context, files, root))
    image = work / "image"
    image.mkdir(parents=True, exist_ok=True)
    spec = {"workdir": "/", "env": {}, "user": None, "entrypoint": [], "cmd": [],
            "healthcheck": None}
    for keyword, arg in all_stages[-1][1]:
        if keyword == "WORKDIR":
            spec["workdir"] = os.path.join(spec["workdir"], arg)
            mapped(image, spec["workdir"], ".").mkdir(parents=True, exist_ok=True)
        elif keyword == "COPY":
            source, sources, dest = copy_args(arg)
            if source:
                stage_root, stage_workdir = roots[source]
                copy_from_stage(stage_root, stage_workdir, sources, dest, spec["workdir"], image)
            else:
                copy_from_context(context, files, sources, dest, spec["workdir"], image)
        elif keyword == "ENV":
            spec["env"].update(parse_env(arg))
        elif keyword == "USER":
            spec["user"] = arg
        elif keyword == "ENTRYPOINT":
            spec["entrypoint"] = exec_form(arg)
        elif keyword == "CMD":
            spec["cmd"] = exec_form(arg)
        elif keyword == "HEALTHCHECK":
            flags, _, command = arg.partition("CMD ")
            spec["healthcheck"] = exec_form(command.strip())
        elif keyword in ("RUN", "EXPOSE"):
            continue
        else:
            sys.exit(f"container.py: {keyword} in the runtime stage is not reproduced; extend it")
    # The unprivileged user must reach the image's files (temporary directories are 0700).
    work.chmod(0o755)
    for dirpath, _, _ in os.walk(image):
        os.chmod(dirpath, 0o755)
    (work / "image.json").write_text(json.dumps(spec, indent=2))
    print(f"container.py: image laid out in {image}: {json.dumps(spec)}", flush=True)


def exec_in_image(work, argv):
    """Replaces this process with argv inside the laid-out image (see the module doc), so a
    caller that starts it in the background holds the service's own pid."""
    work = Path(work).resolve()
    spec = json.loads((work / "image.json").read_text())
    image = work / "image"
    env = dict(spec["env"])
    # What `docker run -e` would pass: the service's own settings.
    env.update({k: v for k, v in os.environ.items() if k.startswith("PSPI__")})
    paths = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    env["PATH"] = ":".join([str(image) + p for p in paths] + paths)
    binary = shutil.which(argv[0], path=env["PATH"]) or argv[0]
    argv = [binary, *argv[1:]]
    if spec["user"] and os.geteuid() == 0:
        argv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", *argv]
    os.chdir(mapped(image, spec["workdir"], "."))
    os.execvpe(argv[0], argv, env)


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("build", "run", "healthcheck"):
        sys.exit("usage: container.py build|run|healthcheck WORK [ARGS...]")
    command, work, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if command == "build":
        build(work)
        return
    spec = json.loads((Path(work) / "image.json").read_text())
    if command == "run":
        exec_in_image(work, spec["entrypoint"] + (args or spec["cmd"]))
    if not spec["healthcheck"]:
        sys.exit("container.py: the image has no HEALTHCHECK")
    exec_in_image(work, spec["healthcheck"])


if __name__ == "__main__":
    main()
