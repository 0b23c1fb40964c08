#!/usr/bin/env bash
# Checks each server the tests use on loopback and starts the ones that are down, with the
# commands this machine's services use. Exits non-zero, loudly, if one cannot be reached.
set -uo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ensure() {
  local name=$1 port=$2 start=$3
  if up "$port"; then echo "ok   $name on 127.0.0.1:$port"; return 0; fi
  echo "down $name on 127.0.0.1:$port; starting it: $start"
  bash -c "$start" >/dev/null 2>&1 || true
  for _ in $(seq 1 120); do
    if up "$port"; then echo "ok   $name on 127.0.0.1:$port (started)"; return 0; fi
    sleep 0.5
  done
  echo "FAIL $name is not reachable on 127.0.0.1:$port" >&2
  return 1
}

failed=0
ensure PostgreSQL 5432 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start' || failed=1
ensure MariaDB 3306 'start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd' || failed=1
ensure Redis 6379 'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log' || failed=1
ensure RabbitMQ 5672 'rabbitmq-server -detached' || failed=1
ensure Mosquitto 1883 'mosquitto -d -c /etc/mosquitto/mosquitto.conf' || failed=1
ensure NATS 4222 'start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log' || failed=1
exit $failed
