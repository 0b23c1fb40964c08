#!/usr/bin/env bash
# Checks each server the tests use on loopback and starts the ones that are down, with the
# commands of a machine set up like CI's (the servers installed as Debian packages). Exits
# non-zero, loudly, if one cannot be reached. A server that is down and not installed that way
# fails at once with a hint: on other machines `docker compose up -d` (compose.yaml) starts the
# same servers.
set -uo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ensure NAME PORT PROGRAM START: PROGRAM is what START runs (a command or a path), checked first.
ensure() {
  local name=$1 port=$2 program=$3 start=$4 output
  if up "$port"; then echo "ok   $name on 127.0.0.1:$port"; return 0; fi
  if ! command -v "$program" >/dev/null 2>&1; then
    echo "FAIL $name is not reachable on 127.0.0.1:$port and $program is not installed here;" \
      "start it some other way, e.g. docker compose up -d (compose.yaml)" >&2
    return 1
  fi
  echo "down $name on 127.0.0.1:$port; starting it: $start"
  # Into a file, not a pipe: a daemon that keeps its inherited stdout open must not hang us.
  output="$(mktemp)"
  if ! bash -c "$start" >"$output" 2>&1 </dev/null; then
    echo "     the start command exited non-zero; waiting for the port anyway. It printed:" >&2
    sed 's/^/     | /' "$output" >&2
  fi
  rm -f "$output"
  for _ in $(seq 1 120); do
    if up "$port"; then echo "ok   $name on 127.0.0.1:$port (started)"; return 0; fi
    sleep 0.5
  done
  echo "FAIL $name is not reachable on 127.0.0.1:$port 60 s after starting it" >&2
  return 1
}

failed=0
ensure PostgreSQL 5432 pg_ctlcluster 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start' || failed=1
ensure MariaDB 3306 /usr/sbin/mariadbd 'start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd' || failed=1
ensure Redis 6379 redis-server 'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log' || failed=1
ensure RabbitMQ 5672 rabbitmq-server 'rabbitmq-server -detached' || failed=1
ensure Mosquitto 1883 mosquitto 'mosquitto -d -c /etc/mosquitto/mosquitto.conf' || failed=1
ensure NATS 4222 /usr/sbin/nats-server 'start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log' || failed=1
exit $failed
