"""Checks the deployment files without a container engine: they parse, they hold the pieces
README describes (replicas that only serve, workers, PostgreSQL, a proxy, an Indexed Job), the
replicas and workers share one database and data folder, and every ser command line in them
is accepted by the ser binary built here (each is run with --help appended, so an unknown or
misspelt option fails). Usage: python deploy/check.py target/debug/ser  (needs PyYAML)."""

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parent
SER = sys.argv[1] if len(sys.argv) > 1 else "target/debug/ser"
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


def ser_accepts(args, where):
    """Runs `ser ARGS --help` with Kubernetes' $(VAR) references given sample values."""
    args = [re.sub(r"\$\((\w+)\)", lambda m: "0" if "INDEX" in m.group(1) else "x", a) for a in args]
    run = subprocess.run([SER, *args, "--help"], capture_output=True, text=True)
    check(run.returncode == 0, f"{where}: ser {shlex.join(args)} is refused: {run.stderr.strip()}")


def option(args, name):
    return args[args.index(name) + 1] if name in args else None


def check_compose():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    for name in ["postgres", "proxy", "worker", "web-a", "web-b"]:
        check(name in services, f"compose.yaml: no service {name}")
    ser = {n: s for n, s in services.items() if s.get("image", "").startswith("ser:")}
    shared = set()
    for name, service in ser.items():
        args = service["command"]
        ser_accepts(args, f"compose.yaml {name}")
        shared.add((option(args, "--database"), option(args, "--data-dir")))
        mounts = [v.split(":")[1] for v in service.get("volumes", [])]
        check(option(args, "--data-dir") in mounts, f"compose.yaml {name}: data folder not on the shared volume")
        if name.startswith("web"):
            check(option(args, "--workers") == "0", f"compose.yaml {name}: a replica runs jobs")
    check(len(shared) == 1, f"compose.yaml: ser services disagree on database or data folder: {shared}")
    check(services["worker"]["command"][0] == "worker", "compose.yaml: the worker does not run `ser worker`")
    check((DEPLOY / "Caddyfile").is_file(), "Caddyfile missing")


def ser_containers(path):
    for doc in yaml.safe_load_all(path.read_text()):
        spec = doc.get("spec", {})
        pod = spec.get("template", {}).get("spec", {})
        for container in pod.get("containers", []):
            if container["image"].startswith("ser:"):
                yield doc, container


def check_kubernetes():
    seen = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for doc, container in ser_containers(path):
            args = container["args"]
            ser_accepts(args, f"{path.name} {doc['metadata']['name']}")
            seen[(doc["kind"], doc["metadata"]["name"])] = (doc, args)
    web = seen.get(("Deployment", "ser-web"))
    worker = seen.get(("Deployment", "ser-worker"))
    job = seen.get(("Job", "ser-predict"))
    check(web and option(web[1], "--workers") == "0", "kubernetes: no ser-web Deployment that only serves")
    check(worker and worker[1][0] == "worker", "kubernetes: no ser-worker Deployment")
    check(web and web[0]["spec"]["replicas"] >= 2, "kubernetes: ser-web has no replicas")
    check(job and job[0]["spec"]["completionMode"] == "Indexed", "kubernetes: no Indexed Job")
    if job:
        completions = job[0]["spec"]["completions"]
        check(option(job[1], "--shard") == f"$(JOB_COMPLETION_INDEX)/{completions}",
              "kubernetes: the Job's shards do not match its completions")


def check_containerfile():
    text = (DEPLOY / "Containerfile").read_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\w+))?", text, re.M)
    check(len(stages) >= 2 and stages[0][1] == "build", "Containerfile: no build stage")
    check("COPY --from=build" in text, "Containerfile: the runtime stage copies nothing from the build")
    cmd = re.search(r"^CMD\s+(\[.*\])", text, re.M)
    check(re.search(r'^ENTRYPOINT\s+\["ser"\]', text, re.M) is not None, "Containerfile: entry point is not ser")
    if cmd:
        ser_accepts(json.loads(cmd.group(1)), "Containerfile CMD")


check_compose()
check_kubernetes()
check_containerfile()
for failure in failures:
    print("FAIL", failure)
if failures:
    sys.exit(1)
print("deployment files: ok")
