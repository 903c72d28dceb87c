#!/bin/sh
# The pattern of the official nginx image: render the configuration template from the
# environment (envsubst there; sed here, for the one variable), check it, then exec nginx.
set -eu
: "${API_UPSTREAM:?API_UPSTREAM (host:port of the storefront API) must be set}"
sed "s|\${API_UPSTREAM}|$API_UPSTREAM|" /etc/nginx/templates/nginx.conf.template > /etc/nginx/nginx.conf
nginx -t -q
exec "$@"
