#!/usr/bin/env bash
# Start the services the test suite uses (Debian's postgresql, redis-server; chromium for
# the browser tests; dovecot-imapd for IMAP) on this
# machine and print the environment the tests read. Installs them when missing (root).
set -euo pipefail
need=()
command -v pg_ctlcluster >/dev/null || need+=(postgresql)
command -v redis-server >/dev/null || need+=(redis-server)
command -v chromium >/dev/null || need+=(chromium)
command -v dovecot >/dev/null || need+=(dovecot-imapd)  # a real IMAP server for email tests
# A CJK font, so that screenshots of zh-CN pages show Chinese rather than empty boxes.
[ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || need+=(fonts-wqy-zenhei)
# Voice: SIPp callers (RTP, RFC 2833 DTMF), baresip agent phones, espeak-ng prompts, sox
# to measure recordings.
command -v sipp >/dev/null || need+=(sip-tester)
command -v baresip >/dev/null || need+=(baresip)
command -v espeak-ng >/dev/null || need+=(espeak-ng)
command -v sox >/dev/null || need+=(sox)
# Kamailio in front of Jietong, with the HA1 view in PostgreSQL (docs/howto/kamailio.md).
command -v kamailio >/dev/null || need+=(kamailio kamailio-postgres-modules)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi
ver=$(ls /usr/lib/postgresql | sort -n | tail -1)
pg_lsclusters -h | grep -q "^$ver main" || pg_createcluster "$ver" main >&2
pg_ctlcluster "$ver" main start >&2 2>/dev/null || true
for _ in $(seq 1 30); do pg_isready -q && break; sleep 1; done
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='jietong'\"" | grep -q 1 ||
  su postgres -c "psql -qc \"CREATE ROLE jietong LOGIN SUPERUSER PASSWORD 'jietong'\"" >&2
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='jietong'\"" | grep -q 1 ||
  su postgres -c "createdb -O jietong jietong" >&2
if ! redis-cli -p 6390 ping >/dev/null 2>&1; then
  redis-server --port 6390 --save '' --appendonly no --daemonize yes >&2
fi
for _ in $(seq 1 30); do redis-cli -p 6390 ping >/dev/null 2>&1 && break; sleep 0.5; done
echo "export JIETONG_TEST_POSTGRES_URL=postgresql+psycopg://jietong:jietong@127.0.0.1:5432/jietong"
echo "export JIETONG_TEST_REDIS_URL=redis://127.0.0.1:6390/0"
echo "export JIETONG_TEST_CHROMIUM=$(command -v chromium)"
echo "export JIETONG_TEST_SIPP=$(command -v sipp)"
echo "export JIETONG_TEST_BARESIP=$(command -v baresip)"
