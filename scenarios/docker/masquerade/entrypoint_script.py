"""A web service started the way most official images start: through a #!/bin/sh entrypoint script."""

from __future__ import annotations

from lab import BuildRecipe, Lab, Mount, WorkloadSpec
from scenarios.api import Expectation, Kind, Scenario

# The pattern of most official images: a POSIX sh entrypoint that prepares things as root and ends in
# `exec "$@"`, and the service's own scripts behind #! lines (env, and the interpreter's full path).
SCRIPTS = {
    "docker-entrypoint.sh": (
        "#!/bin/sh\n"
        "set -e\n"
        "# first arg is `-f` or `--some-option`: run the service with those options\n"
        "if [ \"${1#-}\" != \"$1\" ]; then\n"
        "\tset -- webd \"$@\"\n"
        "fi\n"
        "# running as root: hand the document root to the service user, as official images do\n"
        "if [ \"$(id -u)\" = '0' ]; then\n"
        "\tmkdir -p /srv && echo ok > /srv/index.html\n"
        "\tfind /srv \\! -user nobody -exec chown nobody '{}' +\n"
        "fi\n"
        "exec \"$@\"\n"
    ),
    "healthd": (
        "#!/usr/bin/env python3\n"
        "import os, sys\n"
        "print('healthd: document root', 'present' if os.path.isdir('/srv') else 'missing', file=sys.stderr)\n"
    ),
    "webd": (
        "#!/usr/bin/python3\n"
        "import functools, http.server\n"
        "handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory='/srv')\n"
        "http.server.ThreadingHTTPServer(('', 8080), handler).serve_forever()\n"
    ),
}
APP_DIR = "/opt/webapp/bin"
# On Kubernetes the same scripts come in the service's image, as the platform's pipeline builds it
# (a pod cannot mount a directory of the harness's host; a hostPath is an alert of its own).
WEBAPP = BuildRecipe.of("platform/webapp", f"""\
FROM {{base}}
LABEL org.opencontainers.image.source="https://git.internal.example/platform/images/webapp"
COPY docker-entrypoint.sh healthd webd {APP_DIR}/
RUN chmod 0755 {APP_DIR}/docker-entrypoint.sh {APP_DIR}/healthd {APP_DIR}/webd
""", SCRIPTS)


class EntrypointScript(Scenario):
    id = "docker.masquerade.entrypoint-script"
    title = "A web service starts through a #!/bin/sh entrypoint script"
    kind = Kind.BENIGN
    techniques = ("T1036",)
    backends = ("docker", "kubernetes")
    expect = Expectation(silent=("stowaway.host.argv0-mismatch", "stowaway.host.masquerade-name",
                                 "stowaway.host.exec-from-temp-dir", "stowaway.host.drop-and-execute"),
                         window_s=10)
    twin = "docker.masquerade.argv0-spoof"
    tags = ("masquerade",)
    description = (
        f"Deploys a web service from the lab base image with its scripts mounted read-only at {APP_DIR} "
        "(as a config volume would): a `#!/bin/sh` docker-entrypoint.sh that prepares /srv as root "
        "and ends in `exec \"$@\"`, a `#!/usr/bin/env python3` pre-start check, and the server, a "
        "`#!/usr/bin/python3` script. The kernel runs each script's interpreter with the script's path "
        "as an argument, so argv[0] is `/bin/sh` (a symlink to dash) or `/usr/bin/env` while the "
        "exec'd file is the script: not a masquerade. The scenario checks the server answers. On "
        "Kubernetes the scripts come in the service's image (platform/webapp, built and signed by the "
        "platform's pipeline, loaded into the nodes) and a client pod fetches the page: an exec into the "
        "pod would be an alert of its own."
    )

    def detonate(self, lab: Lab) -> None:
        if lab.backend_name == "kubernetes":
            _on_cluster(lab)
            return
        scripts = lab.host_dir("bin")
        for name, text in SCRIPTS.items():
            (scripts / name).write_text(text)
            (scripts / name).chmod(0o755)
        lab.action("start the web service through its entrypoint script")
        web = lab.deploy(WorkloadSpec(
            role="web", mounts=(Mount(source=str(scripts), target=APP_DIR, read_only=True),),
            env={"PATH": f"{APP_DIR}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
            command=(f"{APP_DIR}/docker-entrypoint.sh", "sh", "-c", "healthd && exec webd"),
        ))
        lab.wait_for(lambda: lab.exec(web, "curl", "-sf", "http://127.0.0.1:8080/index.html", check=False)
                     .output.strip() == "ok", timeout=15, what="the web service to answer")


def _on_cluster(lab: Lab) -> None:
    image = lab.platform_image(WEBAPP)
    lab.action("start the web service through its entrypoint script")
    web = lab.deploy(WorkloadSpec(
        role="web", image=image,
        env={"PATH": f"{APP_DIR}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
        command=(f"{APP_DIR}/docker-entrypoint.sh", "sh", "-c", "healthd && exec webd"),
    ))
    url = f"http://{web.addresses['pod']}:8080/index.html"
    client = lab.deploy(WorkloadSpec(role="web-check", command=("sh", "-c", (
        f"for i in $(seq 1 30); do curl -sf -m 2 {url} && exit 0; sleep 1; done; exit 1"))))
    lab.wait_for(lambda: lab.logs(client).strip() == "ok", timeout=45, what="the web service to answer")
