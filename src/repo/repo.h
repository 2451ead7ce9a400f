/*
 * repo.h - the repository: where snapshots meet the store.
 *
 * A layer above the engine and the store (docs/store-engine.md, DESIGN.md
 * "Layers"): the store knows chunks, files and bytes; the engine knows
 * processes and asks a page source for their memory.  The repository
 * adapts one to the other.
 */
#ifndef THAW_REPO_REPO_H
#define THAW_REPO_REPO_H

#include <stdint.h>

#include "engine/engine.h"
#include "store/store-snap.h"

/*
 * A restore from the store (store_snap_restore_open) as the engine's page
 * source: source.start begins decoding, source.fill writes each process's
 * data runs into it (process_vm_writev), its runs first checked against its
 * pages file.  Lives as long as the restore.
 */
struct repo_pages {
	struct engine_page_source source;
	struct store_snap_restore *sr;
};

void repo_pages_init(struct repo_pages *pg, struct store_snap_restore *sr);

#endif
