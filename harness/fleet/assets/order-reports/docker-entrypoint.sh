#!/bin/sh
# cron starts its jobs with an empty environment, not the container's: keep the settings the jobs
# need (database and cache) in a root-only file they read, then exec cron in the foreground.
set -eu
(umask 077 && env | grep -E '^(PG[A-Z]+|REDIS_HOST)=' | sed 's/^/export /' > /run/reports.env)
exec "$@"
