#!/bin/bash
# Starts fcgiwrap (runs git http-backend per request) and nginx in the foreground; exits when either exits, so
# Docker's restart policy can bring the pair back. TERM/INT are forwarded to both.
set -euo pipefail

socket=/tmp/fcgiwrap.socket
rm -f "$socket"

fcgiwrap -c "${FCGI_CHILDREN:-4}" -s "unix:$socket" &
fcgi_pid=$!

# nginx must not accept requests before the socket exists (bounded: 10 s).
for _ in $(seq 100); do
  [ -S "$socket" ] && break
  kill -0 "$fcgi_pid" 2>/dev/null || { echo "fcgiwrap exited" >&2; exit 1; }
  sleep 0.1
done
[ -S "$socket" ] || { echo "fcgiwrap did not create $socket" >&2; exit 1; }
# When the container runs as root, nginx's workers drop to `nobody`: let them reach the socket (as in argo-cd
# test/fixture/testrepos/Procfile). The socket is only visible inside the container.
chmod 0777 "$socket"

if [ ! -w /srv/git ]; then
  echo "warning: /srv/git is not writable by uid $(id -u); pushes will fail (run with --user <owner uid>:<gid>)" >&2
fi

nginx -e stderr -c /etc/gitserver/nginx.conf -g 'daemon off;' &
nginx_pid=$!

stop() { kill -TERM "$nginx_pid" "$fcgi_pid" 2>/dev/null || true; }
trap stop TERM INT

set +e
wait -n "$nginx_pid" "$fcgi_pid"
status=$?
stop
wait
exit "$status"
