#!/usr/bin/env bash
# .ci/start-pgbouncer.sh: make sure a PgBouncer answers on 127.0.0.1:6432 in
# front of the PostgreSQL server of .ci/start-postgres.sh (run that first),
# serving
#   test          the database test, in transaction mode (pool_mode = transaction)
#   test_session  the same database, in session mode
#   any other     the database of that name, in transaction mode
# to user "postgres" without a password (auth_type = trust), with user
# "postgres" allowed on the admin console (database "pgbouncer"). Idempotent:
# run it as often as you like.
#
# On a bare Debian machine (as root) it installs Debian's PgBouncer
# (apt-get install pgbouncer; Debian 12 has 1.18.0), writes its
# configuration to $CONVO_PGBOUNCER_DIR (default /tmp/convo-pgbouncer) and
# starts it there as user postgres (PgBouncer refuses to run as root). If a
# PgBouncer already serves both databases on the port, it changes nothing.
#
# Afterwards:
#   export CONVO_TEST_PGBOUNCER='postgres://postgres@127.0.0.1:6432/test?sslmode=disable'
#   export CONVO_TEST_PGBOUNCER_SESSION='postgres://postgres@127.0.0.1:6432/test_session?sslmode=disable'
set -euo pipefail

HOST=127.0.0.1
PORT=${CONVO_PGBOUNCER_PORT:-6432}     # overridable to test this script beside a live one
PG_PORT=${CONVO_PG_PORT:-5432}
DIR=${CONVO_PGBOUNCER_DIR:-/tmp/convo-pgbouncer}
RUN_AS=postgres
export PGCONNECT_TIMEOUT=5               # a PgBouncer that accepts and never answers must not hang the checks

log() { echo "start-pgbouncer: $*"; }
die() { echo "start-pgbouncer: error: $*" >&2; exit 1; }

need_root() {
	[ "$(id -u)" = 0 ] || die "$1 needs root (run: sudo $0)"
}

answers() { (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; }

# serves DB: a query through PgBouncer on database DB works.
serves() {
	psql -X -q -h "$HOST" -p "$PORT" -U postgres -d "$1" -tAc 'SELECT 1' >/dev/null 2>&1
}

ready() { serves test && serves test_session; }

command -v psql >/dev/null 2>&1 || die "psql is missing: run .ci/start-postgres.sh first"
psql -X -q -h "$HOST" -p "$PG_PORT" -U postgres -d test -tAc 'SELECT 1' >/dev/null 2>&1 ||
	die "PostgreSQL does not answer on $HOST:$PG_PORT with database test: run .ci/start-postgres.sh first"

if answers && ready; then
	log "a PgBouncer already serves test and test_session on $HOST:$PORT"
	exit 0
fi

if ! command -v pgbouncer >/dev/null 2>&1; then
	need_root "installing PgBouncer"
	log "installing PgBouncer from Debian (apt-get install -y pgbouncer)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q pgbouncer
fi
log "$(pgbouncer --version | head -n 1)"

# Debian's package may have started its own service (where systemd runs),
# on the same port, with no database configured: stop that one.
if answers && ! ready && [ -f /etc/pgbouncer/pgbouncer.ini ] && pgrep -f '^/usr/sbin/pgbouncer .*/etc/pgbouncer/pgbouncer.ini' >/dev/null 2>&1; then
	need_root "stopping Debian's pgbouncer service"
	log "stopping Debian's pgbouncer service, which holds port $PORT"
	systemctl stop pgbouncer 2>/dev/null || service pgbouncer stop 2>/dev/null || true
	for _ in $(seq 1 20); do answers || break; sleep 0.25; done
fi

# Our own instance, from an earlier run, that does not answer as it should
# (only if the pid file's process is PgBouncer on this very configuration:
# a stale pid file may name an unrelated process by now).
if [ -f "$DIR/pgbouncer.pid" ]; then
	pid=$(cat "$DIR/pgbouncer.pid")
	if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "pgbouncer.* $DIR/pgbouncer.ini"; then
		log "stopping the earlier instance (pid $pid), which does not serve both databases"
		kill "$pid"
		for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
		if kill -0 "$pid" 2>/dev/null; then
			log "it did not stop within 5 s: kill -9 $pid"
			kill -9 "$pid" 2>/dev/null || true
			sleep 0.5
		fi
	fi
fi
answers && die "something else listens on $HOST:$PORT and does not serve test and test_session; stop it or set CONVO_PGBOUNCER_PORT"

mkdir -p "$DIR"
# Nothing of ours runs now: a pid file left behind (a killed or crashed
# instance) would make PgBouncer refuse to start.
rm -f "$DIR/pgbouncer.pid"
cat >"$DIR/pgbouncer.ini" <<EOF
; Written by .ci/start-pgbouncer.sh for convo's tests.
[databases]
test = host=$HOST port=$PG_PORT dbname=test
test_session = host=$HOST port=$PG_PORT dbname=test pool_mode=session
* = host=$HOST port=$PG_PORT

[pgbouncer]
listen_addr = $HOST
listen_port = $PORT
unix_socket_dir =
auth_type = trust
auth_file = $DIR/userlist.txt
admin_users = postgres
pool_mode = transaction
max_client_conn = 500
default_pool_size = 20
logfile = $DIR/pgbouncer.log
pidfile = $DIR/pgbouncer.pid
EOF
# auth_type = trust still needs the user in auth_file.
echo '"postgres" ""' >"$DIR/userlist.txt"

if [ "$(id -u)" = 0 ]; then
	id "$RUN_AS" >/dev/null 2>&1 || die "user $RUN_AS is missing (it comes with Debian's postgresql package)"
	chown -R "$RUN_AS" "$DIR"
	log "starting PgBouncer as $RUN_AS: pgbouncer -d -u $RUN_AS $DIR/pgbouncer.ini"
	pgbouncer -d -u "$RUN_AS" "$DIR/pgbouncer.ini"
else
	log "starting PgBouncer: pgbouncer -d $DIR/pgbouncer.ini"
	pgbouncer -d "$DIR/pgbouncer.ini"
fi

for _ in $(seq 1 60); do
	if answers && ready; then
		log "ready: transaction mode at postgres://postgres@$HOST:$PORT/test, session mode at .../test_session (log: $DIR/pgbouncer.log)"
		exit 0
	fi
	sleep 0.5
done
tail -n 20 "$DIR/pgbouncer.log" >&2 || true
die "PgBouncer does not serve test and test_session on $HOST:$PORT after 30 s (see $DIR/pgbouncer.log)"
