#!/bin/bash
# 53-store-s3.sh - the store's S3 tier against a real S3 server: Ceph's
# radosgw on a one-node cluster brought up here (tests/store/rgw.sh), every
# request signed with SigV4 and checked by it.  Round trip with cold caches,
# path and virtual-host addressing, names that need encoding, listing across
# pages (ListObjectsV2), two writers of one snapshot at once (If-None-Match),
# a chunk corrupted on the server, wrong and unknown credentials, a missing
# bucket, a credentials file, thaw dump/restore and thaw run through s3://;
# then S3 faults from tests/store/fault-httpd.py: 503 SlowDown (backed off
# and retried) and a server that drops the connection mid-transfer.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../store/store-lib.sh"
. "$(dirname "$0")/../store/rgw.sh"
. "$(dirname "$0")/../store/run-lib.sh"
need_store_cmd
need_prog basic
need_prog sdk-counter
export THAW_RESTORE_TMPDIR=$TMP/shm
mkdir -p "$THAW_RESTORE_TMPDIR"
rgw_start
s3_bucket thaw
E=(--s3-endpoint "$S3_ENDPOINT")
U=s3://thaw/snaps/v1

mksnap "$TMP/a" a --shared 2 --unique 2
mksnap "$TMP/b" b --shared 2 --unique 1

# round trip, cold cache each way; the objects are where S3 keeps them
st_ok --store $U "${E[@]}" --cache "$TMP/c1" put "$TMP/a" --name a
st_ok --store $U "${E[@]}" --cache "$TMP/c2" get a --dir "$TMP/a.got"
same_dir "$TMP/a" "$TMP/a.got"
s3curl "$S3_ENDPOINT/thaw/snaps/v1/names/a" | grep -qE '^[0-9a-f]{64}$' ||
	fail "no name a under s3://thaw/snaps/v1/names/"
# virtual-host style: the bucket in the host name (rgw dns name = localhost;
# libcurl resolves *.localhost to the loopback itself)
st_ok --store $U --s3-endpoint "http://localhost:$RGW_PORT" --s3-style virtual \
	--cache "$TMP/c3" get a --dir "$TMP/a.vh"
same_dir "$TMP/a" "$TMP/a.vh"
# the endpoint from the environment
THAW_S3_ENDPOINT=$S3_ENDPOINT st_ok --store $U --cache "$TMP/c3e" get a --dir "$TMP/a.env"

# names that must be percent-encoded, and ls across listing pages of two keys
for n in b+1 b@2 b:3; do
	st_ok --store $U "${E[@]}" --cache "$TMP/c4" put "$TMP/b" --name "$n"
done
THAW_S3_MAX_KEYS=2 st_ok --store $U "${E[@]}" ls
for n in a b+1 b@2 b:3; do
	grep -q "^$n " "$TMP/st.log" || fail "ls over S3 does not list $n: $(cat "$TMP/st.log")"
done
grep -q "total: 4 snapshots" "$TMP/st.log" || fail "ls over S3: $(tail -n 1 "$TMP/st.log")"
# everything rehashed from the server
st_ok --store $U "${E[@]}" --cache "$TMP/c5" verify

# two writers of the same new snapshot at once, each with a cold cache: both
# succeed (a chunk the other stored first is a 412 to If-None-Match: *, which
# is taken as stored), and what they stored reads back whole
mksnap "$TMP/d" d --shared 2 --unique 3
"$THAW" store --store $U "${E[@]}" --cache "$TMP/w1" put "$TMP/d" --name d1 >"$TMP/w1.log" 2>&1 &
w1=$!
track $w1
"$THAW" store --store $U "${E[@]}" --cache "$TMP/w2" put "$TMP/d" --name d2 >"$TMP/w2.log" 2>&1 &
w2=$!
track $w2
wait $w1 || fail "writer 1 failed: $(tail -n 3 "$TMP/w1.log")"
wait $w2 || fail "writer 2 failed: $(tail -n 3 "$TMP/w2.log")"
for n in d1 d2; do
	st_ok --store $U "${E[@]}" --cache "$TMP/c-$n" get "$n" --dir "$TMP/$n.got"
	same_dir "$TMP/d" "$TMP/$n.got"
done
# a conditional put over an object that is there: refused by the server
c=$(find "$TMP/c1/chunks" -type f | head -n 1)
id=${c##*/}
code=$(s3curl -o /dev/null -w '%{http_code}' -H 'If-None-Match: *' -T "$TMP/a/data.img" \
	"$S3_ENDPOINT/thaw/snaps/v1/chunks/$id")
[ "$code" = 412 ] || fail "radosgw answered $code to If-None-Match: * over an existing chunk"

# a chunk corrupted on the server: a cold get names it and fails, the cache
# keeps nothing bad
s3curl -o "$TMP/chunk" "$S3_ENDPOINT/thaw/snaps/v1/chunks/$id"
flip_byte "$TMP/chunk" 60
s3curl -o /dev/null -T "$TMP/chunk" "$S3_ENDPOINT/thaw/snaps/v1/chunks/$id"
st_fails "chunk $id.*snapshot a.*no tier has a good copy" --store $U "${E[@]}" \
	--cache "$TMP/c6" get a --dir "$TMP/a.bad"
[ -e "$TMP/a.bad" ] && fail "a failed get left $TMP/a.bad"
grep -q "chunk $id .*store $U" "$TMP/st.log" || fail "the bad copy was not blamed on the S3 tier"
[ -e "$TMP/c6/chunks/${id:0:2}/$id" ] && fail "the corrupt chunk entered the cache"
s3curl -o /dev/null -T "$c" "$S3_ENDPOINT/thaw/snaps/v1/chunks/$id" # repaired
st_ok --store $U "${E[@]}" --cache "$TMP/c6" get a --dir "$TMP/a.good"

# gc: what no name reaches goes once older than the grace period, the rest
# stays whole; a grace shorter than twice the refresh age is refused.
# THAW_S3_REFRESH_AGE=0 (writers refresh whatever they reuse) lets the test
# use --grace 0
mksnap "$TMP/e" e --shared 0 --unique 2
st_ok --store $U "${E[@]}" --cache "$TMP/c10" put "$TMP/e" --name e
s3curl -o /dev/null -X DELETE "$S3_ENDPOINT/thaw/snaps/v1/names/e"
st_fails "grace must be at least 3600 s" --store $U "${E[@]}" --cache "$TMP/c10" gc --grace 60
st_ok --store $U "${E[@]}" --cache "$TMP/c10" gc
grep -q "removed 0 objects" "$TMP/st.log" || fail "gc removed young objects: $(cat "$TMP/st.log")"
before=$(s3curl "$S3_ENDPOINT/thaw/?list-type=2&prefix=snaps%2Fv1%2Fchunks%2F" | grep -o '<Key>' | wc -l)
THAW_S3_REFRESH_AGE=0 st_ok --store $U "${E[@]}" --cache "$TMP/c10" gc --grace 0
grep -qE "removed [1-9][0-9]* objects" "$TMP/st.log" || fail "gc removed nothing: $(cat "$TMP/st.log")"
after=$(s3curl "$S3_ENDPOINT/thaw/?list-type=2&prefix=snaps%2Fv1%2Fchunks%2F" | grep -o '<Key>' | wc -l)
[ "$after" -lt "$before" ] || fail "gc left every chunk ($before before, $after after)"
st_ok --store $U "${E[@]}" --cache "$TMP/c11" verify
# a writer reusing old objects refreshes them (a copy onto themselves), so gc spares them
THAW_S3_REFRESH_AGE=0 "$THAW" -v store --store $U "${E[@]}" --cache "$TMP/c12" put "$TMP/a" \
	--name a-again >"$TMP/refresh.log" 2>&1 || fail "put a-again: $(tail -n 3 "$TMP/refresh.log")"
grep -qE "refreshing [1-9][0-9]* objects older than 0 s" "$TMP/refresh.log" ||
	fail "the writer refreshed nothing: $(tail -n 5 "$TMP/refresh.log")"
st_ok --store $U "${E[@]}" --cache "$TMP/c13" get a-again --dir "$TMP/a.again"
same_dir "$TMP/a" "$TMP/a.again"

# wrong secret, unknown key, missing bucket: clear errors naming the bucket and status
AWS_SECRET_ACCESS_KEY=wrong st_fails "bucket thaw refused GET .*HTTP 403 SignatureDoesNotMatch" \
	--store $U "${E[@]}" --cache "$TMP/c7" get a --dir "$TMP/a.403"
AWS_ACCESS_KEY_ID=NOSUCHKEY st_fails "bucket thaw refused .*HTTP 403 InvalidAccessKeyId" \
	--store $U "${E[@]}" --cache "$TMP/c7" get a --dir "$TMP/a.403"
st_fails "bucket nosuchbucket does not exist" --store s3://nosuchbucket/x "${E[@]}" \
	--cache "$TMP/c7" get a --dir "$TMP/a.404"
st_fails "bucket nosuchbucket does not exist" --store s3://nosuchbucket/x "${E[@]}" \
	--cache "$TMP/c8" put "$TMP/a" --name a
st_fails "want s3://BUCKET" --store s3://No_Such "${E[@]}" ls
st_fails "prefix may hold only" --store s3://thaw/../x "${E[@]}" ls

# credentials from a file, by profile
mkdir -p "$TMP/aws"
printf '[default]\naws_access_key_id = NOPE\naws_secret_access_key = nope\n\n[thaw]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
	"$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$TMP/aws/credentials"
(
	unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
	export AWS_SHARED_CREDENTIALS_FILE=$TMP/aws/credentials AWS_PROFILE=thaw
	st_ok --store $U "${E[@]}" --cache "$TMP/c9" get a --dir "$TMP/a.file"
) || exit 1

# thaw dump / restore through s3:// (cold cache), the program checks itself
start basic "$PROGS/basic" --threads 2
wait_ready basic
timeout -k 5 120 "$THAW" dump --pid "$PID" --store $U "${E[@]}" --cache "$TMP/cd" \
	--name basic >"$TMP/dump.log" 2>&1 || fail "thaw dump --store $U: $(tail -n 5 "$TMP/dump.log")"
wait_gone "$PID" 5 || fail "the dumped program still runs"
restore_detached_from basic-r --store $U "${E[@]}" --cache "$TMP/cr" --name basic
finish basic-r "$PID"

# thaw run through s3://: a cold start puts the snapshot; an empty cache (another
# host) restores it; a chunk corrupted on the server is a cold start that puts
# it again over the bad copy (unconditionally: this process found it bad), so
# the next empty cache restores
R=s3://thaw/run
counter cold --store $R "${E[@]}" --cache "$TMP/rc1"
was_cold cold
counter warm --store $R "${E[@]}" --cache "$TMP/rc2"
was_restored warm
# the largest chunk: page data (a small one may be the metadata's, another reason)
id=$(s3curl "$S3_ENDPOINT/thaw/?list-type=2&prefix=run%2Fchunks%2F" | python3 -c '
import re, sys
x = sys.stdin.read()
c = re.findall(r"<Key>run/chunks/([0-9a-f]+)</Key>.*?<Size>([0-9]+)</Size>", x)
print(max(c, key=lambda k: int(k[1]))[0] if c else "")')
[ -n "$id" ] || fail "no chunk listed under s3://thaw/run/chunks/"
s3curl -o "$TMP/chunk" "$S3_ENDPOINT/thaw/run/chunks/$id"
flip_byte "$TMP/chunk" 60
s3curl -o /dev/null -T "$TMP/chunk" "$S3_ENDPOINT/thaw/run/chunks/$id"
counter corrupt --store $R "${E[@]}" --cache "$TMP/rc3"
grep -qE "cold start: restore failed: chunk [0-9a-f]+ .*no tier has a good copy" \
	"$TMP/corrupt.err" || fail "corrupt: reason: $(cat "$TMP/corrupt.err")"
was_cold corrupt
counter healed --store $R "${E[@]}" --cache "$TMP/rc4"
was_restored healed corrupt

# --- S3 faults, from tests/store/fault-httpd.py (path style, bucket "store")
# fault_server NAME ARGS...: starts it, sets FE (its endpoint) and SERVER_PID
fault_server() {
	local name=$1 pf=$TMP/$1.port i
	shift
	python3 "$STORE_TESTS/fault-httpd.py" "$pf" "$@" >"$TMP/$name.log" 2>&1 &
	SERVER_PID=$!
	track $SERVER_PID
	for ((i = 0; i < 200; i++)); do
		[ -s "$pf" ] && break
		sleep 0.05
	done
	[ -s "$pf" ] || fail "$name: fault server did not start"
	FE=http://127.0.0.1:$(cat "$pf")
}
st_ok --store "$TMP/local" put "$TMP/a" --name a
# what thaw sends: chunks and manifests with If-None-Match: * (a 412 from this
# server when the object is there), a name without (a name is replaced)
fault_server cond
st_ok --store s3://store --s3-endpoint "$FE" --cache "$TMP/f0" put "$TMP/a" --name a
grep -q 'PUT /store/chunks/[0-9a-f]* inm=\*' "$TMP/cond.log" || fail "chunks were put unconditionally"
grep -q 'PUT /store/manifests/[0-9a-f]* inm=\*' "$TMP/cond.log" || fail "the manifest was put unconditionally"
grep -q 'PUT /store/names/a inm=-' "$TMP/cond.log" || fail "the name was put conditionally"
kill "$SERVER_PID"
# a writer that found nothing (HEAD 404) puts what another stored meanwhile: 412, taken as stored
fault_server race --seed "$TMP/local" --head-absent
st_ok --store s3://store --s3-endpoint "$FE" --cache "$TMP/f0b" put "$TMP/a" --name a2
grep -q '^412 /store/chunks/' "$TMP/race.log" || fail "no chunk put met a 412"
st_ok --store s3://store --s3-endpoint "$FE" --cache "$TMP/f0c" get a2 --dir "$TMP/a.race"
same_dir "$TMP/a" "$TMP/a.race"
kill "$SERVER_PID"
# 503 SlowDown twice on every path: backed off, retried, done
fault_server slow --seed "$TMP/local" --slowdown 2
st_ok --store s3://store --s3-endpoint "$FE" --cache "$TMP/f1" get a --dir "$TMP/a.slow"
same_dir "$TMP/a" "$TMP/a.slow"
grep -q SlowDown "$TMP/slow.log" || fail "the fault server sent no SlowDown"
kill "$SERVER_PID"
# the server drops the connection halfway through a chunk: a clear error, nothing published
fault_server dying --seed "$TMP/local" --die-after 2
st_fails "chunk .*snapshot a|127.0.0.1" --store s3://store --s3-endpoint "$FE" \
	--cache "$TMP/f2" --retries 2 --timeout-ms 3000 get a --dir "$TMP/a.died"
[ -e "$TMP/a.died" ] && fail "a get from a dying server left a directory"
pass
