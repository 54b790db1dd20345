/* core/backup.h - online backup, restore and the data-directory lock. */
#ifndef MW_CORE_BACKUP_H
#define MW_CORE_BACKUP_H

#include <stddef.h>

#include "core/status.h"

/* Copies the database at src into a new file dest with SQLite's online
 * backup API: consistent even while a server writes (WAL readers never
 * block writers). dest must not exist. Then copies the artifact store
 * <src_dir>/artifacts/sha256 to <dest>.artifacts/ (files are immutable and
 * content-addressed, so a copy made after the database holds every
 * artifact the database names). Checks the copy with
 * PRAGMA integrity_check. */
mw_status mw_backup(const char *data_dir, const char *dest, char *err,
                    size_t errcap);
/* Takes the data directory's lock (flock on <data_dir>/modelwatch.lock):
 * every server holds it shared while it runs (several may share one
 * database), and restore takes it exclusively, so a restore never replaces
 * the files under a running server. *fd receives the lock's descriptor
 * (release with mw_datadir_unlock; also released when the process exits).
 * MW_ECONFLICT when it is held the other way. */
mw_status mw_datadir_lock(const char *data_dir, int exclusive, int *fd, char *err,
                          size_t errcap);
void mw_datadir_unlock(int fd);
/* Restores a backup made by mw_backup into data_dir (created if missing),
 * which must not hold a database unless force is set, and must not be in
 * use by a server (mw_datadir_lock). */
mw_status mw_restore(const char *src, const char *data_dir, int force, char *err,
                     size_t errcap);
/* The id of the key that encrypts the credentials in the SQLite database
 * file db_file (a backup, or a data directory's), into id[16]: "" when it
 * records none (never served by a binary with encryption at rest). The
 * key itself is never in a backup (core/secrets.h). */
mw_status mw_backup_key_id(const char *db_file, char id[16]);

#endif
