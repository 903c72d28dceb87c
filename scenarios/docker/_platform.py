"""The platform's own service images, as its image pipeline builds them.

A benign twin gets these through ``lab.platform_image`` (built and signed by the pipeline, the way a
platform team ships them). An adversary that forges a sanction builds its own copy with
``lab.build_image`` (``rebuilt``): the same Dockerfile plus a change of its own, the same labels,
the same repository name, and no signature. What the twin shows, it can copy; the provenance it
cannot. (A byte-identical rebuild is another matter: BuildKit gives it the very image id the
pipeline signed, because it is the very same image. Running the platform's own image is covered by
the ``as_built`` half of the sanctions, see docker.escape.agent-image-repurposed.)

Each image runs its job as its own command (the sanctions require a signed image to run as
built), with settings from the environment, as such services usually do.
"""

from __future__ import annotations

from pathlib import Path

from lab import BuildRecipe

ASSETS = Path(__file__).parent / "network" / "_assets"

NODE_AGENT = BuildRecipe.of("platform/node-agent", """\
FROM {base}
LABEL org.opencontainers.image.source="https://git.internal.example/platform/images/node-agent"
COPY node-agent /usr/local/bin/node-agent
CMD ["sh", "/usr/local/bin/node-agent"]
""", {"node-agent": (
    "#!/bin/sh\n"
    "# Host metrics from the host's /proc, mounted read-only at /host/proc.\n"
    "while true; do\n"
    "  echo \"load $(cut -d' ' -f1-3 /host/proc/loadavg) procs $(ls /host/proc | grep -c '^[0-9]')"
    " mem $(grep MemAvailable /host/proc/meminfo | tr -s ' ' | cut -d' ' -f2)\"\n"
    "  sleep 2\n"
    "done\n")})

EGRESS_PROXY = BuildRecipe.of("platform/egress-proxy", """\
FROM {base}
LABEL org.opencontainers.image.source="https://git.internal.example/platform/images/egress-proxy"
COPY forward_proxy.py /opt/proxy/forward_proxy.py
EXPOSE 3128
CMD ["python3", "/opt/proxy/forward_proxy.py", "3128"]
""", {"forward_proxy.py": ASSETS / "forward_proxy.py"})

# The nightly backup: waits for its schedule (here: the trigger file the scheduler touches), then
# streams an archive of /usr to the vault named in VAULT_HOST over rsync's port.
VAULT_BACKUP = BuildRecipe.of("platform/vault-backup", """\
FROM {base}
LABEL org.opencontainers.image.source="https://git.internal.example/platform/images/vault-backup"
COPY backup.sh /usr/local/bin/vault-backup
CMD ["sh", "/usr/local/bin/vault-backup"]
""", {"backup.sh": (
    "#!/bin/sh\n"
    "mkdir -p /run/backup\n"
    "while true; do\n"
    "  if [ -e /run/backup/now ]; then\n"
    "    rm -f /run/backup/now\n"
    "    for i in 1 2 3 4 5 6 7 8 9 10; do\n"
    "      tar -C /usr -cf - . 2>/dev/null | head -c \"${ARCHIVE_BYTES:-16000000}\" |"
    " nc -w 5 -q 2 \"$VAULT_HOST\" 873 && break\n"
    "      sleep 0.5\n"
    "    done\n"
    "    touch /run/backup/done\n"
    "  fi\n"
    "  sleep 0.5\n"
    "done\n")})

# A service the configuration-management agent manages: at start, and on every converge after
# that, it renders the log-shipping cron entry it owns (write a temporary copy, rename it in place).
MANAGED_API = BuildRecipe.of("platform/managed-api", """\
FROM {base}
LABEL org.opencontainers.image.source="https://git.internal.example/platform/images/managed-api"
LABEL app.kubernetes.io/managed-by="confd"
COPY converge.sh /usr/local/bin/converge
CMD ["sh", "/usr/local/bin/converge"]
""", {"converge.sh": (
    "#!/bin/sh\n"
    "render() {\n"
    "  echo \"$1 root /usr/local/bin/logship --once\" > /etc/cron.d/.logship.tmp\n"
    "  mv /etc/cron.d/.logship.tmp /etc/cron.d/logship\n"
    "}\n"
    "render '*/10 * * * *'\n"
    "sleep \"${CONVERGE_AFTER_S:-4}\"\n"
    "render '*/5 * * * *'\n"
    "touch /run/converged\n"
    "echo \"converged: $(cat /etc/cron.d/logship)\"\n"
    "exec sleep infinity\n")})

def rebuilt(recipe: BuildRecipe) -> BuildRecipe:
    """The recipe as someone outside the pipeline rebuilds it: same name, same Dockerfile, one more
    step of their own (here it records where it was built), so the image is not the one signed."""
    dockerfile = recipe.dockerfile + 'RUN printf "built on %s\\n" "$(hostname)" > /etc/build-host\n'
    return BuildRecipe(repository=recipe.repository, dockerfile=dockerfile, files=recipe.files)


# The ledger database stand-in and the batch jobs that use it.
LEDGER_DB = BuildRecipe.of("platform/ledger-db", """\
FROM {base}
CMD ["socat", "-u", "TCP-LISTEN:5432,fork,reuseaddr", "OPEN:/tmp/received,creat,append"]
""")

REPORT_SYNC = BuildRecipe.of("platform/report-sync", """\
FROM {base}
COPY sync.py /opt/sync/sync.py
CMD ["python3", "/opt/sync/sync.py"]
""", {"sync.py": (
    "import os, random, socket, time\n"
    "while True:\n"
    "    try:\n"
    "        s = socket.create_connection((os.environ['DB_HOST'], 5432), timeout=2)\n"
    "        s.sendall(b'COPY report;\\n'); s.close()\n"
    "    except OSError:\n"
    "        pass\n"
    "    time.sleep(float(os.environ.get('EVERY_S', '1.5')) * random.uniform(0.7, 1.3))\n")})

LEDGER_CLOSE = BuildRecipe.of("platform/ledger-close", """\
FROM {base}
COPY close.py /opt/close/close.py
CMD ["python3", "/opt/close/close.py"]
""", {"close.py": (
    "import os, random, socket, time\n"
    "while True:\n"
    "    try:\n"
    "        s = socket.create_connection((os.environ['DB_HOST'], 5432), timeout=2)\n"
    "        s.sendall(b'SELECT 1;\\n'); s.close()\n"
    "    except OSError:\n"
    "        pass\n"
    "    time.sleep(random.uniform(2.0, 3.5))\n")})

# A CI runner: waits for a job (the trigger file the CI scheduler touches), then builds with the two
# cores it is given: byte-compiles a copy of the Python standard library with two workers, over and
# over, for BUILD_SECONDS, the way a build job keeps its cores busy for minutes. Then idles again.
CI_RUNNER = BuildRecipe.of("platform/ci-runner", """\
FROM {base}
LABEL org.opencontainers.image.source="https://git.internal.example/platform/images/ci-runner"
COPY ci-job /usr/local/bin/ci-job
CMD ["sh", "/usr/local/bin/ci-job"]
""", {"ci-job": (
    "#!/bin/sh\n"
    "mkdir -p /run/ci /work\n"
    "while true; do\n"
    "  if [ -e /run/ci/job ]; then\n"
    "    rm -f /run/ci/job\n"
    "    end=$(( $(date +%s) + ${BUILD_SECONDS:-40} )); n=0\n"
    "    while [ \"$(date +%s)\" -lt \"$end\" ]; do\n"
    "      rm -rf /work/src && cp -r /usr/lib/python3.11 /work/src\n"
    "      python3 -m compileall -q -f -j 2 /work/src >/dev/null 2>&1; n=$((n + 1))\n"
    "    done\n"
    "    echo \"$n\" > /run/ci/builds\n"
    "  fi\n"
    "  sleep 0.5\n"
    "done\n")})

# The reports service: its report run fills one core for REPORT_SECONDS, then it idles.
REPORTS = BuildRecipe.of("platform/reports", """\
FROM {base}
COPY report.py /opt/reports/report.py
CMD ["python3", "/opt/reports/report.py"]
""", {"report.py": (
    "import hashlib, os, time\n"
    "end = time.time() + float(os.environ.get('REPORT_SECONDS', '25')); n = 0; h = b'ledger'\n"
    "while time.time() < end:\n"
    "    h = hashlib.sha256(h).digest(); n += 1\n"
    "    if n % 200000 == 0:\n"
    "        open('/tmp/rows', 'w').write(str(n))\n"
    "while True:\n"
    "    time.sleep(60)\n")})
