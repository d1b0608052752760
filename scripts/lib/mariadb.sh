# Shell helpers to run a private, throw-away MariaDB server in a directory (sourced by
# scripts/demo and scripts/bench). Requires mariadb-server and mariadb-client.

# mariadb_start DIR PORT: initialises DIR/data and starts mariadbd on DIR/mysqld.sock and
# 127.0.0.1:PORT. Sets MARIADB_PID.
mariadb_start() {
  local dir=$1 port=$2
  mkdir -p "$dir"
  if ! command -v mariadbd >/dev/null && [ ! -x /usr/sbin/mariadbd ]; then
    echo "mariadbd not found: install it with: apt-get install mariadb-server mariadb-client" >&2
    return 1
  fi
  mariadb-install-db --no-defaults --datadir="$dir/data" --user="$(id -un)" \
    --auth-root-authentication-method=socket --skip-test-db >"$dir/install.log" 2>&1 || {
      cat "$dir/install.log" >&2; return 1; }
  /usr/sbin/mariadbd --no-defaults --datadir="$dir/data" --socket="$dir/mysqld.sock" \
    --port="$port" --bind-address=127.0.0.1 --user="$(id -un)" --skip-log-bin \
    --pid-file="$dir/mysqld.pid" --log-error="$dir/error.log" --innodb-buffer-pool-size=256M \
    --max-allowed-packet=1G >/dev/null 2>&1 &
  MARIADB_PID=$!
  local i
  for i in $(seq 1 120); do
    if mariadb --no-defaults -uroot --socket="$dir/mysqld.sock" -e 'SELECT 1' >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.5
  done
  echo "MariaDB did not start; its log:" >&2
  cat "$dir/error.log" >&2
  return 1
}

# mariadb_sql DIR SQL...: runs SQL as root over the socket.
mariadb_sql() {
  local dir=$1; shift
  mariadb --no-defaults -uroot --socket="$dir/mysqld.sock" --max-allowed-packet=1G "$@"
}

# mariadb_stop DIR: shuts the server down.
mariadb_stop() {
  local dir=$1
  if [ -n "${MARIADB_PID:-}" ] && kill -0 "$MARIADB_PID" 2>/dev/null; then
    kill "$MARIADB_PID" 2>/dev/null
    wait "$MARIADB_PID" 2>/dev/null || true
  fi
}
