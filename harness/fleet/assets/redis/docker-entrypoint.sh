#!/bin/sh
# The pattern of the official redis image: options or a .conf as first argument mean redis-server;
# as root, give the data directory to the redis user and re-run as that user; then exec the server.
set -e

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
    set -- redis-server "$@"
fi

if [ "$1" = "redis-server" ] && [ "$(id -u)" = "0" ]; then
    find . \! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

exec "$@"
