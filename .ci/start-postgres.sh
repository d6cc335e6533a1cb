#!/usr/bin/env bash
# .ci/start-postgres.sh: make sure a PostgreSQL server answers on
# 127.0.0.1:5432, lets user "postgres" in without a password from 127.0.0.1
# (trust), and has a database "test". Idempotent: run it as often as you like.
#
# On a bare Debian machine (as root) it installs PostgreSQL from Debian
# (apt-get install postgresql), creates and starts the cluster with
# pg_ctlcluster, sets trust auth for 127.0.0.1 and creates the database. If a
# server already answers, it changes only what is missing, and only on a
# cluster of this machine (pg_lsclusters); a server elsewhere (a CI service
# container) is checked, not changed.
#
# Afterwards:
#   export CONVO_TEST_POSTGRES='postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
set -euo pipefail

HOST=127.0.0.1
PORT=${CONVO_PG_PORT:-5432}        # overridable to test this script beside a live server
CLUSTER=${CONVO_PG_CLUSTER:-main}  # name of the cluster to create if none uses $PORT
DB=test
URL="postgres://postgres@${HOST}:${PORT}/${DB}?sslmode=disable"

log() { echo "start-postgres: $*"; }
die() { echo "start-postgres: error: $*" >&2; exit 1; }

answers() {
	if command -v pg_isready >/dev/null 2>&1; then
		pg_isready -q -h "$HOST" -p "$PORT"
	else
		(exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null
	fi
}

wait_ready() {
	for _ in $(seq 1 60); do
		if answers; then return 0; fi
		sleep 0.5
	done
	return 1
}

# local_cluster prints "VERSION NAME" of this machine's cluster on $PORT.
local_cluster() {
	command -v pg_lsclusters >/dev/null 2>&1 || return 0
	pg_lsclusters -h 2>/dev/null | awk -v port="$PORT" '$3 == port { print $1, $2; exit }'
}

need_root() {
	[ "$(id -u)" = 0 ] || die "$1 needs root (run: sudo $0)"
}

if answers; then
	log "a server already answers on $HOST:$PORT"
else
	log "nothing answers on $HOST:$PORT"
	if [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ] || ! command -v pg_ctlcluster >/dev/null 2>&1; then
		need_root "installing PostgreSQL"
		log "installing PostgreSQL from Debian (apt-get install -y postgresql)"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -q
		apt-get install -y -q postgresql
	fi
	cluster=$(local_cluster)
	if [ -z "$cluster" ]; then
		need_root "creating a cluster"
		version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
		if pg_lsclusters -h | awk '{print $1, $2}' | grep -qx "$version $CLUSTER"; then
			die "cluster $version/$CLUSTER exists but does not use port $PORT; set port = $PORT in /etc/postgresql/$version/$CLUSTER/postgresql.conf"
		fi
		log "creating cluster $version/$CLUSTER on port $PORT"
		pg_createcluster --port "$PORT" "$version" "$CLUSTER" >/dev/null
		cluster="$version $CLUSTER"
	fi
	read -r version name <<<"$cluster"
	if pg_ctlcluster "$version" "$name" status >/dev/null 2>&1; then
		log "cluster $version/$name is running but does not answer yet"
	else
		need_root "starting the cluster"
		log "starting cluster $version/$name (pg_ctlcluster --skip-systemctl-redirect $version $name start)"
		pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start
	fi
	wait_ready || die "cluster $version/$name does not answer on $HOST:$PORT after 30s (see /var/log/postgresql/postgresql-$version-$name.log)"
	log "server answers on $HOST:$PORT"
fi

# Trust auth from 127.0.0.1, on a cluster of this machine. pg_hba.conf is read
# top-down and the first matching line wins, so the trust lines go first.
cluster=$(local_cluster)
if [ -n "$cluster" ]; then
	read -r version name <<<"$cluster"
	hba=/etc/postgresql/$version/$name/pg_hba.conf
	first=$(grep -E '^[[:space:]]*host[a-z]*[[:space:]]+[^[:space:]]+[[:space:]]+[^[:space:]]+[[:space:]]+127\.0\.0\.1/32' "$hba" | head -n 1 || true)
	if [ -n "$first" ] && [[ "$first" =~ ^[[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust[[:space:]]*$ ]]; then
		log "trust auth for 127.0.0.1 already set in $hba"
	else
		need_root "changing $hba"
		log "adding trust auth for 127.0.0.1 and ::1 at the top of $hba"
		sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
		pg_ctlcluster --skip-systemctl-redirect "$version" "$name" reload
		sleep 1
	fi
fi

if ! command -v psql >/dev/null 2>&1; then
	need_root "installing psql"
	log "installing the PostgreSQL client (apt-get install -y postgresql-client)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q postgresql-client
fi
psql_pg() { psql -X -q -h "$HOST" -p "$PORT" -U postgres "$@"; }

if ! psql_pg -d postgres -tAc 'SELECT 1' >/dev/null 2>&1; then
	die "cannot connect as postgres to $HOST:$PORT without a password; allow it with a trust line for 127.0.0.1 in pg_hba.conf"
fi
if [ "$(psql_pg -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" = 1 ]; then
	log "database $DB exists"
else
	log "creating database $DB"
	psql_pg -d postgres -c "CREATE DATABASE $DB" >/dev/null
fi
psql_pg -d "$DB" -tAc 'SELECT 1' >/dev/null || die "cannot connect to database $DB"
log "ready: $(psql_pg -d "$DB" -tAc 'SHOW server_version') at $URL"
