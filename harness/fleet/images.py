"""The images the services run, every one made by the platform's image pipeline.

The services' base is a Debian root filesystem made offline with debootstrap (``lab.images``, a
recipe of its own, cached by its hash), which the pipeline imports and signs as
``platform/service-base``. Each service image is built FROM it by the pipeline with BuildKit (no
network) and signed under its own ``platform/<name>`` identity. The files each image adds live
under ``assets/<image>/``. The CI runner's build also installs a package with ``dpkg -i``: its
``.deb`` is fetched on the host with ``apt-get download`` (``lab.images.host_deb``), because build
steps have no network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lab import BuildRecipe, ImageRecipe

ASSETS = Path(__file__).parent / "assets"
SOURCE = "https://git.internal.example/platform/images"

SERVICE_BASE = ImageRecipe(
    repository="platform/service-base",
    # Why each package: what the services run, from Debian's archive, nothing built from source.
    packages=(
        "python3",  # the storefront API, the worker, the recommender, the inventory pair
        "python3-psycopg2",  # PostgreSQL client library of the API and the worker
        "python3-redis",  # Redis client library of the API and the worker
        "postgresql",  # the database server, psql and pgbench
        "redis-server",  # the cache and queue, and redis-cli
        "nginx-light",  # the web tier
        "cron",  # the reporting jobs' scheduler
        "logrotate",  # rotation of the API's and the jobs' logs
        "curl",  # health checks and HTTP clients
        "procps",  # pgrep for health checks
        "libpython3.11-testsuite",  # CPython's regression tests: the CI runner's test stage
    ),
)


@dataclass(frozen=True, slots=True)
class ServiceImage:
    """One service image: its repository under ``platform/`` and the Dockerfile body after FROM."""

    repository: str
    body: str
    assets: tuple[str, ...] = ()  # files under assets/<image>/ copied into the build context
    extra: tuple[tuple[str, Path], ...] = ()  # other context files: (name in the context, host file)

    @property
    def name(self) -> str:
        return self.repository.rsplit("/", 1)[1]

    def recipe(self, base: str) -> BuildRecipe:
        """The pipeline's recipe, FROM ``base`` (the signed service base image's reference)."""
        files: dict[str, str | bytes | Path] = {name: ASSETS / self.name / name for name in self.assets}
        files.update(dict(self.extra))
        dockerfile = (f"FROM {base}\n"
                      f'LABEL org.opencontainers.image.source="{SOURCE}/{self.name}"\n' + self.body)
        return BuildRecipe.of(self.repository, dockerfile, files)


POSTGRES = ServiceImage("platform/postgres", """\
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
COPY 10-ledger.sql /docker-entrypoint-initdb.d/10-ledger.sql
RUN chmod 755 /usr/local/bin/docker-entrypoint.sh \\
 && mkdir -p "$PGDATA" /run/postgresql && chown -R postgres:postgres /var/lib/postgresql /run/postgresql
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \\
  CMD pg_isready -q -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" || exit 1
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
""", assets=("docker-entrypoint.sh", "10-ledger.sql"))

REDIS = ServiceImage("platform/redis", """\
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
COPY redis.conf /etc/redis/redis.conf
RUN chmod 755 /usr/local/bin/docker-entrypoint.sh && mkdir -p /data && chown redis:redis /data
WORKDIR /data
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD redis-cli ping | grep -q PONG
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server", "/etc/redis/redis.conf"]
""", assets=("docker-entrypoint.sh", "redis.conf"))

STOREFRONT_API = ServiceImage("platform/storefront-api", """\
RUN useradd --system --home-dir /srv/storefront --shell /usr/sbin/nologin storefront \\
 && mkdir -p /srv/storefront /var/log/storefront && chown storefront:storefront /var/log/storefront
COPY storefront.py /srv/storefront/storefront.py
USER storefront
WORKDIR /srv/storefront
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \\
  CMD curl -fsS -o /dev/null http://127.0.0.1:8000/healthz || exit 1
EXPOSE 8000
CMD ["python3", "/srv/storefront/storefront.py"]
""", assets=("storefront.py",))

STOREFRONT_WEB = ServiceImage("platform/storefront-web", """\
COPY nginx.conf /etc/nginx/templates/nginx.conf.template
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 755 /usr/local/bin/docker-entrypoint.sh && rm -f /etc/nginx/sites-enabled/default
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \\
  CMD curl -fsS -o /dev/null http://127.0.0.1/healthz || exit 1
EXPOSE 80
STOPSIGNAL SIGQUIT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["nginx", "-g", "daemon off;"]
""", assets=("nginx.conf", "docker-entrypoint.sh"))

ORDER_WORKER = ServiceImage("platform/order-worker", """\
RUN useradd --system --home-dir /srv/order-worker --shell /usr/sbin/nologin worker \\
 && mkdir -p /srv/order-worker /run/order-worker && chown worker:worker /run/order-worker
COPY order_worker.py /srv/order-worker/order_worker.py
USER worker
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \\
  CMD test $(( $(date +%s) - $(stat -c %Y /run/order-worker/heartbeat) )) -lt 30
CMD ["python3", "/srv/order-worker/order_worker.py"]
""", assets=("order_worker.py",))

LEDGER_WRITER = ServiceImage("platform/ledger-writer", """\
COPY ledger-writer /usr/local/bin/ledger-writer
RUN chmod 755 /usr/local/bin/ledger-writer
CMD ["ledger-writer"]
""", assets=("ledger-writer",))

ORDER_REPORTS = ServiceImage("platform/order-reports", """\
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
COPY order-rollup /usr/local/bin/order-rollup
COPY reports.cron /etc/cron.d/reports
COPY storefront.logrotate /etc/logrotate.d/storefront
RUN chmod 755 /usr/local/bin/docker-entrypoint.sh /usr/local/bin/order-rollup \\
 && chmod 644 /etc/cron.d/reports /etc/logrotate.d/storefront && mkdir -p /var/log/reports /var/log/storefront
HEALTHCHECK --interval=15s --timeout=3s --retries=3 CMD pgrep -x cron >/dev/null || exit 1
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["cron", "-f"]
""", assets=("docker-entrypoint.sh", "order-rollup", "reports.cron", "storefront.logrotate"))

RECOMMENDER = ServiceImage("platform/recommender", """\
RUN useradd --system --home-dir /srv/recommender --shell /usr/sbin/nologin recommender && mkdir -p /srv/recommender
COPY recommender.py /srv/recommender/recommender.py
USER recommender
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \\
  CMD curl -fsS -o /dev/null http://127.0.0.1:8500/healthz || exit 1
EXPOSE 8500
CMD ["python3", "/srv/recommender/recommender.py"]
""", assets=("recommender.py",))

LOADGEN = ServiceImage("platform/loadgen", """\
COPY shoppers /usr/local/bin/shoppers
RUN chmod 755 /usr/local/bin/shoppers
CMD ["shoppers"]
""", assets=("shoppers",))

RATES_SYNC = ServiceImage("platform/rates-sync", """\
COPY rates-sync /usr/local/bin/rates-sync
RUN chmod 755 /usr/local/bin/rates-sync
CMD ["rates-sync"]
""", assets=("rates-sync",))

INVENTORY = ServiceImage("platform/inventory", """\
COPY inventory.py /srv/inventory/inventory.py
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \\
  CMD curl -fsS -o /dev/null http://127.0.0.1:8080/healthz || exit 1
EXPOSE 8080
CMD ["python3", "/srv/inventory/inventory.py"]
""", assets=("inventory.py",))

STOCK_POLLER = ServiceImage("platform/stock-poller", """\
COPY stock_poller.py /srv/stock-poller/stock_poller.py
CMD ["python3", "/srv/stock-poller/stock_poller.py"]
""", assets=("stock_poller.py",))


def ci_runner(make_deb: Path) -> ServiceImage:
    """The CI runner: ``make`` comes from its .deb, installed with dpkg during the build (every
    dependency, libc6, is already in the base) and checked to run before the image is kept."""
    return ServiceImage("platform/ci-runner", """\
COPY debs/make.deb /tmp/debs/make.deb
RUN dpkg -i /tmp/debs/make.deb && rm -rf /tmp/debs && make --version | head -n 1
COPY ci-runner /usr/local/bin/ci-runner
COPY pipeline.mk /usr/share/ci-runner/pipeline.mk
RUN chmod 755 /usr/local/bin/ci-runner && mkdir -p /builds /var/lib/ci-runner
CMD ["ci-runner"]
""", assets=("ci-runner", "pipeline.mk"), extra=(("debs/make.deb", make_deb),))
