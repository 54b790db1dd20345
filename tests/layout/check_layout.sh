#!/usr/bin/env bash
# The layout rules the compiler cannot see (the include views of
# CMakeLists.txt enforce the arrows between subsystems):
#  1. SQLite is named only in core's SQLite backend (core/db_sqlite.[ch],
#     core/backup_sqlite.c) and in store files named `*_sqlite.c`; libpq
#     only in core/db_pg.[ch] and files named `*_pg.c`;
#  2. only web/ knows HTTP (CivetWeb);
#  3. no #include climbs out of its folder ("../");
#  4. nothing in the repository points at design notes outside it;
#  5. the C sources are formatted as .clang-format says (when clang-format
#     is installed).
# Prints every offence and exits 1 when there is one.
set -u
cd "$(dirname "$0")/../.."
fail=0
src=$(git ls-files 'core/*.[ch]' 'registry/*.[ch]' 'monitor/*.[ch]' \
      'alerts/*.[ch]' 'rollouts/*.[ch]' 'web/*.[ch]' 'cli/*.[ch]' 2>/dev/null ||
      find core registry monitor alerts rollouts web cli -name '*.[ch]')

for f in $src; do
  case "$f" in
    core/db_sqlite.c|core/db_sqlite.h|core/backup_sqlite.c|*_sqlite.c) ;;
    *) if grep -n -i 'sqlite3\|db_sqlite\.h' "$f" /dev/null; then
         echo "layout: $f names SQLite outside a *_sqlite.c store file"; fail=1
       fi ;;
  esac
  case "$f" in
    core/db_pg.c|core/db_pg.h|*_pg.c) ;;
    *) if grep -n 'libpq-fe\.h\|PGconn\|PGresult\|db_pg\.h' "$f" /dev/null; then
         echo "layout: $f names libpq outside a *_pg.c store file"; fail=1
       fi ;;
  esac
  case "$f" in
    web/*) ;;
    *) if grep -n 'civetweb\.h\|mg_connection' "$f" /dev/null; then
         echo "layout: $f knows HTTP (CivetWeb) outside web/"; fail=1
       fi ;;
  esac
  if grep -n '#include "\.\./' "$f" /dev/null; then
    echo "layout: $f includes through ../"; fail=1
  fi
done

docs=$(git ls-files 2>/dev/null | grep -v '^node_modules/' |
       grep -E '\.(c|h|md|py|sh|mjs|js|txt|cmake|yaml|yml|html|css)$|Makefile$|CMakeLists.txt$')
# One grep and one clang-format over all the files (a process per file
# took over ctest's 120 s on a loaded machine).
docs=$(printf '%s\n' $docs | grep -v '^tests/layout/check_layout\.sh$')
bad=$(grep -l -E '\.\./shared/|/work/shared|(^|[^a-z/_])(DESIGN|API|DRIFT|STYLE)\.md' $docs /dev/null)
for f in $bad; do
  grep -n -E '\.\./shared/|/work/shared|(^|[^a-z/_])(DESIGN|API|DRIFT|STYLE)\.md' "$f" /dev/null
  echo "layout: $f points at a design note outside the repository"; fail=1
done

if command -v clang-format >/dev/null 2>&1 && [ -f .clang-format ]; then
  unformatted=$(clang-format --dry-run --Werror $src 2>&1 |
                sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: .*/\1/p' | sort -u)
  for f in $unformatted; do
    echo "layout: $f is not formatted (clang-format -i $f)"; fail=1
  done
fi

[ $fail = 0 ] && echo "layout: ok"
exit $fail
