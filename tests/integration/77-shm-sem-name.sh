#!/bin/bash
# 77-shm-sem-name.sh - a named semaphore comes back under its name: after
# restore, /dev/shm/sem.NAME exists in the restored program's /dev/shm and
# sem_open("NAME") gives the semaphore the processes have mapped (a post
# through it is seen through the first handle).  glibc's sem_open maps the
# semaphore through a temporary file (sem.XXXXXX) that it then links to
# sem.NAME and unlinks, so /proc/PID/maps shows only the temporary name.
# The rest of 73-shm.sh's checks run as well (its POSIX-only round).
SHM_SEMNAME=1 exec /bin/bash "$(dirname "$0")/73-shm.sh"
