/* core/fault.h - statement fault injection for test builds (compiled with
 * MW_FAULT_INJECTION only; core/fault.c says how it is armed). Internal to
 * core: the database backends count their statements through it, so a
 * test can fail the k-th prepare or step of one request on either
 * backend and check that nothing half done is kept. */
#ifndef MW_CORE_FAULT_H
#define MW_CORE_FAULT_H

#ifdef MW_FAULT_INJECTION

enum mw_fault_kind { MW_FAULT_PREPARE = 1, MW_FAULT_STEP = 2 };

/* Reads MODELWATCH_FAULT_FILE once (logged when set). */
void mw__fault_init(void);
/* A request may start on this thread (web/ asks for its connection first
 * thing): disarms the thread, then arms it from the control file when one
 * waits and this is a CivetWeb worker. */
void mw__fault_request_start(void);
/* Counts one prepare or step of sql on this thread; 1 when it must fail.
 * ROLLBACK is neither counted nor failed: it is how failures are undone. */
int mw__fault_hit(enum mw_fault_kind kind, const char *sql);

#endif
#endif
