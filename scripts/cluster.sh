#!/usr/bin/env bash
# A real one-node SLURM cluster (with accounting) and a PostgreSQL server on this machine,
# for the tests marked `cluster` and for trying kanfair's cluster path before a real one.
#
#   scripts/cluster.sh start    # installs what is missing (Debian/Ubuntu), starts, prints the URL
#   scripts/cluster.sh status
#   scripts/cluster.sh stop
#
# Needs root and no systemd (a container, a CI machine, a throwaway VM): it writes
# /etc/slurm/slurm.conf and starts the daemons by hand. Accounting (slurmdbd on MariaDB) is
# not optional: without it `sacct` fails, and submitit never sees a job that died without a
# result (scancel, a time limit), so Hydra's launcher would wait for ever.
# PostgreSQL: a role `kanfair` (password `kanfair`, allowed to create databases) owning a
# database `kanfair` on 127.0.0.1:5432; the tests create a fresh database per test.
set -euo pipefail

PG_URL="postgresql+psycopg2://kanfair:kanfair@127.0.0.1:5432/kanfair"
PACKAGES="slurmctld slurmd slurm-client munge slurmdbd mariadb-server postgresql"
DB_PASSWORD=kanfair-slurmdbd

say() { echo "cluster: $*"; }
fail() { echo "cluster: error: $*" >&2; exit 1; }

# wait_for <what> <seconds> <command...>: poll every 0.2 s
wait_for() {
  local what=$1 seconds=$2; shift 2
  for _ in $(seq $((seconds * 5))); do "$@" > /dev/null 2>&1 && return 0; sleep 0.2; done
  fail "$what did not come up within $seconds s (logs: /var/log/slurm, /var/log/mysql, /var/log/postgresql)"
}

install_missing() {
  local missing=""
  for p in $PACKAGES; do dpkg -s "$p" > /dev/null 2>&1 || missing="$missing $p"; done
  [ -z "$missing" ] && return 0
  command -v apt-get > /dev/null || fail "missing packages:$missing, and no apt-get to install them"
  say "installing$missing"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing > /dev/null
}

write_configs() {
  local cpus mem
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))  # a node claiming more is drained
  mkdir -p /etc/slurm
  cat > /etc/slurm/slurm.conf <<EOF
# written by kanfair's scripts/cluster.sh: one node, no cgroups, accounting through slurmdbd;
# a requeued job waits cred_expire seconds before it starts again (SLURM's default: 120)
ClusterName=kanfair
SlurmctldHost=localhost
SlurmUser=slurm
AuthType=auth/munge
AuthInfo=cred_expire=10
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/linux
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
EnforcePartLimits=ALL
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
InactiveLimit=0
KillWait=5
MinJobAge=300
Waittime=0
NodeName=localhost CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  cat > /etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASSWORD
StorageLoc=slurm_acct_db
EOF
  chown slurm:slurm /etc/slurm/slurmdbd.conf
  chmod 600 /etc/slurm/slurmdbd.conf
}

start_munge() {
  munge -n 2> /dev/null | unmunge > /dev/null 2>&1 && return 0
  [ -f /etc/munge/munge.key ] || su -s /bin/sh munge -c "mungekey -c"
  install -d -o munge -g munge -m 0755 /run/munge
  su -s /bin/sh munge -c /usr/sbin/munged
  wait_for munge 10 sh -c "munge -n | unmunge"
}

start_accounting() {
  if ! mariadb-admin ping > /dev/null 2>&1; then
    install -d -o mysql -g mysql /run/mysqld
    (mariadbd --user=mysql > /var/log/kanfair-mariadb.log 2>&1 &)
    wait_for MariaDB 30 mariadb-admin ping
  fi
  mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
              GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
  install -d -o slurm -g slurm /var/log/slurm
  [ -f /run/slurmdbd.pid ] && kill -0 "$(cat /run/slurmdbd.pid)" 2> /dev/null || /usr/sbin/slurmdbd
  wait_for slurmdbd 30 sacctmgr -n list cluster
}

start_slurm() {
  install -d -o slurm -g slurm /var/spool/slurmctld /var/log/slurm
  install -d /var/spool/slurmd
  [ -f /run/slurmctld.pid ] && kill -0 "$(cat /run/slurmctld.pid)" 2> /dev/null || /usr/sbin/slurmctld
  [ -f /run/slurmd.pid ] && kill -0 "$(cat /run/slurmd.pid)" 2> /dev/null || /usr/sbin/slurmd -N localhost
  wait_for "the SLURM node" 30 sh -c 'sinfo -h -n localhost -o %T | grep -qx idle'
}

start_postgres() {
  pg_lsclusters -h | grep -q "^15 *main" || pg_createcluster 15 main > /dev/null
  pg_isready -q -h 127.0.0.1 || pg_ctlcluster 15 main start
  wait_for PostgreSQL 30 pg_isready -q -h 127.0.0.1
  su postgres -c "psql -q -v ON_ERROR_STOP=1" > /dev/null <<'EOF'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'kanfair') THEN
    CREATE ROLE kanfair LOGIN CREATEDB PASSWORD 'kanfair';
  END IF;
END $$;
EOF
  su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname = 'kanfair'\"" | grep -q 1 \
    || su postgres -c "createdb -O kanfair kanfair"
}

stop_pid() {  # stop_pid <name> <pid file>
  if [ -f "$2" ]; then
    kill "$(cat "$2")" 2> /dev/null && say "stopped $1" || true
    rm -f "$2"
  fi
}

case "${1:-}" in
  start)
    [ "$(id -u)" = 0 ] || fail "run as root (it writes /etc/slurm and starts daemons); on a shared machine use your site's cluster instead"
    started=$(date +%s%N)
    install_missing
    write_configs
    start_munge
    start_accounting
    start_slurm
    start_postgres
    say "SLURM (partition debug, $(nproc) CPUs, accounting on) and PostgreSQL are up in $(( ($(date +%s%N) - started) / 1000000 )) ms"
    say "tuning storage: tune.storage=$PG_URL"
    ;;
  stop)
    scancel --user="$(id -un)" 2> /dev/null || true
    stop_pid slurmd /run/slurmd.pid
    stop_pid slurmctld /run/slurmctld.pid
    stop_pid slurmdbd /run/slurmdbd.pid
    mariadb-admin shutdown 2> /dev/null && say "stopped MariaDB" || true
    pkill -x munged 2> /dev/null && say "stopped munge" || true
    pg_ctlcluster 15 main stop 2> /dev/null && say "stopped PostgreSQL" || true
    ;;
  status)
    sinfo -h -o "SLURM: partition %P, node %N %T, %c CPUs" 2> /dev/null || echo "SLURM: down"
    sacctmgr -n list cluster format=cluster 2> /dev/null | sed 's/^ */accounting: cluster /' || echo "accounting: down"
    pg_isready -h 127.0.0.1 > /dev/null 2>&1 && echo "PostgreSQL: up ($PG_URL)" || echo "PostgreSQL: down"
    ;;
  *)
    echo "usage: scripts/cluster.sh start|status|stop" >&2
    exit 2
    ;;
esac
