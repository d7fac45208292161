# shellcheck shell=bash
# lib.sh: shared helpers of the sigchain bash clients (HTTP, JSON, prompts, errors).
#
# Sourced by every client script (not by rc, and not meant to be run). It
# defines sc_* functions and variables and an EXIT trap that removes its
# temporary files; it changes no shell option.
# Needs bash (3.2 or later) and curl; uses jq when installed (SIGCHAIN_NO_JQ=1
# turns it off). Environment read here: clientHost (the node), SIGCHAIN_TIMEOUT
# (seconds per request, default 30), SIGCHAIN_QUIET, SIGCHAIN_RAW, SIGCHAIN_NO_JQ.

# Name used in every message, so one line on stderr says which client spoke.
SC_PROG=${0##*/}

# Directory of the client scripts (the one holding this file).
# shellcheck disable=SC2034 # used by the scripts that source this file
SC_DIR=$(CDPATH='' cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)

# Temporary directory for curl's stderr; made on first use, removed at exit.
SC_TMP=""

# Set by sc_request: the HTTP status and the answer's body.
SC_STATUS=""
SC_BODY=""

# Remove what this process created in /tmp. Scripts that set their own EXIT
# trap call this from it.
sc_cleanup() {
    if [[ -n $SC_TMP ]]; then
        rm -rf -- "$SC_TMP"
        SC_TMP=""
    fi
}
trap sc_cleanup EXIT

# sc_die CODE MESSAGE: print "prog: MESSAGE" (one line) on stderr, exit CODE.
sc_die() {
    local code=$1
    shift
    printf '%s: %s\n' "$SC_PROG" "$*" >&2
    exit "$code"
}

# sc_usage_error MESSAGE: a problem with the command line (exit status 2).
sc_usage_error() {
    sc_die 2 "$* (see $SC_PROG --help)"
}

# sc_note TEXT...: chatter for people at a terminal (the seed's "From / Action"
# lines). Goes to stderr and only when stderr is a terminal, so stdout stays
# machine-readable and scripts see nothing. SIGCHAIN_QUIET=1 silences it.
sc_note() {
    if [[ -t 2 && -z ${SIGCHAIN_QUIET:-} ]]; then
        printf '%s\n' "$@" >&2
    fi
}

# sc_header ACTION: the seed's banner before a request.
sc_header() {
    sc_note "" "From      $(sc_host)" "" "Action    $1" ""
}

# sc_host: the node's base URL, from clientHost (set by `. rc`; SC_HOST, set
# by testnet, takes precedence), without a trailing slash; "host:port" gets
# "http://" in front.
sc_host() {
    local h=${SC_HOST:-${clientHost:-http://localhost:5000}}
    while [[ $h == */ ]]; do h=${h%/}; done
    if [[ $h != *://* ]]; then h="http://$h"; fi
    printf '%s' "$h"
}

# sc_need_curl: one clear line instead of "command not found".
sc_need_curl() {
    command -v curl >/dev/null 2>&1 ||
        sc_die 1 "curl is not installed (install it, e.g. apt-get install curl)"
}

# sc_have_jq: true when jq may be used.
sc_have_jq() {
    [[ -z ${SIGCHAIN_NO_JQ:-} ]] && command -v jq >/dev/null 2>&1
}

# sc_json_str TEXT: TEXT as a JSON string literal (with the quotes), escaped
# per RFC 8259 (quote, backslash and every control character), so no value
# can break out of its string.
sc_json_str() {
    local s=$1 bs=$'\\' q='"' c hex i
    s=${s//"$bs"/"$bs$bs"}
    s=${s//"$q"/"$bs$q"}
    s=${s//$'\n'/"${bs}n"}
    s=${s//$'\r'/"${bs}r"}
    s=${s//$'\t'/"${bs}t"}
    # The remaining control characters (U+0001..U+001F) have no short escape.
    for ((i = 1; i < 32; i++)); do
        printf -v hex '%02x' "$i"
        printf -v c '%b' "\\x$hex"
        if [[ $s == *"$c"* ]]; then
            s=${s//"$c"/"${bs}u00$hex"}
        fi
    done
    printf '"%s"' "$s"
}

# sc_urlencode TEXT: percent-encode TEXT for a query string (base64 addresses
# hold '+', '/' and '=', and a raw '+' would be read as a space).
sc_urlencode() {
    local LC_ALL=C
    local s=$1 out="" c i
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        case $c in
            [A-Za-z0-9._~-]) out+=$c ;;
            *) printf -v c '%%%02X' "'$c"; out+=$c ;;
        esac
    done
    printf '%s' "$out"
}

# sc_json_get BODY FIELD: print the string (or number) value of FIELD of the
# JSON object BODY, or nothing. jq when available; otherwise a regular
# expression that takes the first occurrence, which is enough for the node's
# flat answers ({"secret": ...}, {"error": ...}, {"address": ...}).
sc_json_get() {
    local body=$1 field=$2 v bs=$'\\' q='"' mark=$'\001'
    if sc_have_jq; then
        jq -r --arg k "$field" \
            'if type == "object" then (.[$k] // empty | if type == "string" or type == "number" then tostring else empty end) else empty end' \
            <<<"$body" 2>/dev/null && return 0
    fi
    local re="\"$field\"[[:space:]]*:[[:space:]]*(\"(([^\"\\\\]|\\\\.)*)\"|(-?[0-9][0-9.eE+-]*))"
    if [[ $body =~ $re ]]; then
        if [[ -n ${BASH_REMATCH[4]} ]]; then
            printf '%s\n' "${BASH_REMATCH[4]}"
            return 0
        fi
        v=${BASH_REMATCH[2]}
        v=${v//"$bs$bs"/"$mark"}
        v=${v//"$bs$q"/"$q"}
        v=${v//"$bs/"/"/"}
        v=${v//"${bs}n"/$'\n'}
        v=${v//"${bs}t"/$'\t'}
        v=${v//"${bs}r"/}
        v=${v//"$mark"/"$bs"}
        printf '%s\n' "$v"
    fi
}

# sc_jq_keeps_numbers: true when this jq prints number literals as it read
# them. jq before 1.7 turns 0.0 into 0 and rounds integers above 2^53, which
# would misstate a chain whose block hashes depend on those very literals.
sc_jq_keeps_numbers() {
    local probe='[0.0,1.50,9007199254740993]'
    [[ $(jq -c . <<<"$probe" 2>/dev/null) == "$probe" ]]
}

# sc_reindent: pretty-print the JSON text on stdin like `jq .` does (two
# spaces), moving only whitespace between tokens, so every literal stays
# byte for byte as the node sent it.
sc_reindent() {
    LC_ALL=C awk '
        function indent(d,   r, k) { r = ""; for (k = 0; k < d; k++) r = r "  "; return r }
        { s = s $0 "\n" }
        END {
            # Split at quotes: the text between two quotes is a string (kept as
            # is, fast) unless the quote was escaped by an odd run of backslashes.
            np = split(s, part, "\"")
            depth = 0; instr = 0; o = ""
            for (k = 1; k <= np; k++) {
                t = part[k]
                if (instr) {
                    o = o t
                    m = 0
                    while (m < length(t) && substr(t, length(t) - m, 1) == "\\") m++
                    if (k < np) { o = o "\""; if (m % 2 == 0) instr = 0 }
                    continue
                }
                n = length(t)
                for (i = 1; i <= n; i++) {
                    c = substr(t, i, 1)
                    if (c == " " || c == "\t" || c == "\n" || c == "\r") continue
                    if (c == "{" || c == "[") {
                        j = i + 1
                        while (j <= n && index(" \t\n\r", substr(t, j, 1)) > 0) j++
                        d = substr(t, j, 1)
                        if ((c == "{" && d == "}") || (c == "[" && d == "]")) { o = o c d; i = j }
                        else { depth++; o = o c "\n" indent(depth) }
                    } else if (c == "}" || c == "]") {
                        depth--; o = o "\n" indent(depth) c
                    } else if (c == ",") {
                        o = o ",\n" indent(depth)
                    } else if (c == ":") {
                        o = o ": "
                    } else {
                        o = o c
                    }
                }
                if (k < np) { o = o "\""; instr = 1 }
                if (length(o) > 65536) { printf "%s", o; o = "" }
            }
            printf "%s\n", o
        }'
}

# sc_print_json BODY: pretty-print the node's JSON answer without changing
# any value: with jq when installed and faithful to number literals (1.7+),
# else with sc_reindent. SIGCHAIN_RAW=1 prints the answer exactly as received.
sc_print_json() {
    local body=$1 out
    local -a color=()
    if [[ -n ${SIGCHAIN_RAW:-} || ! $body =~ ^[[:space:]]*[\{\[] ]]; then
        printf '%s\n' "$body"
        return 0
    fi
    if [[ -t 1 ]]; then color=(-C); fi
    if sc_have_jq && sc_jq_keeps_numbers &&
        out=$(jq ${color[@]+"${color[@]}"} . <<<"$body" 2>/dev/null) && [[ -n $out ]]; then
        printf '%s\n' "$out"
    elif out=$(sc_reindent <<<"$body" 2>/dev/null) && [[ -n $out ]]; then
        printf '%s\n' "$out"
    else
        printf '%s\n' "$body"
    fi
}

# sc_request METHOD PATH [BODY] [MAX_SECONDS]
# Sends one request to the node and sets SC_STATUS and SC_BODY. Exits with one
# line on stderr when the node cannot be reached (status 1). HTTP statuses are
# left to the caller (see sc_expect_ok).
sc_request() {
    local method=$1 path=$2 body=${3:-} max=${4:-${SIGCHAIN_TIMEOUT:-30}}
    local host url out rc=0 err
    sc_need_curl
    host=$(sc_host)
    url="$host$path"
    if [[ -z $SC_TMP ]]; then
        SC_TMP=$(mktemp -d "${TMPDIR:-/tmp}/sigchain-client.XXXXXX") ||
            sc_die 1 "cannot create a temporary directory"
    fi
    local -a args=(--silent --show-error --max-time "$max" --connect-timeout 10
        -X "$method" -H 'Accept: application/json' -w '\n%{http_code}')
    # A proxy from the environment must not get between us and a local node.
    case $host in
        *://localhost[:/]* | *://localhost | *://127.* | *://\[::1\]*) args+=(--noproxy '*') ;;
    esac
    if [[ -n $body ]]; then
        args+=(-H 'Content-Type: application/json' --data-binary @-)
    fi
    out=$(printf '%s' "$body" | curl "${args[@]}" -- "$url" 2>"$SC_TMP/err") || rc=$?
    if ((rc != 0)); then
        err=$(sed -n 's/^curl: ([0-9]*) //p' "$SC_TMP/err" | head -n 1)
        case $rc in
            7) sc_die 1 "cannot reach node at $host (is it running?)" ;;
            6) sc_die 1 "cannot resolve the host of $host (check the node address; set it with: . rc URL)" ;;
            28) sc_die 1 "node at $host did not answer within ${max}s" ;;
            52) sc_die 1 "node at $host closed the connection without answering" ;;
            1 | 3) sc_die 1 "invalid node address '$host' (set one with: . rc http://HOST:PORT)" ;;
            55 | 56) sc_die 1 "connection to node at $host broke${err:+: $err}" ;;
            *) sc_die 1 "request to $host failed${err:+: $err} (curl exit $rc)" ;;
        esac
    fi
    SC_STATUS=${out##*$'\n'}
    SC_BODY=${out%$'\n'*}
}

# sc_expect_ok: after sc_request, exit 1 with the node's own error message
# unless the status is 2xx.
sc_expect_ok() {
    local msg
    if [[ $SC_STATUS == 2?? ]]; then
        return 0
    fi
    msg=$(sc_json_get "$SC_BODY" error)
    if [[ -z $msg ]]; then
        msg=$SC_BODY
    fi
    # One line: a stray newline must not split the message.
    msg=${msg//$'\r'/}
    msg=${msg//$'\n'/ }
    if ((${#msg} > 500)); then msg="${msg:0:500}..."; fi
    if [[ -z $msg ]]; then msg="(empty answer)"; fi
    sc_die 1 "node answered $SC_STATUS: $msg"
}

# sc_get PATH [MAX_SECONDS]: GET, fail on a non-2xx status, print the JSON.
sc_get() {
    sc_request GET "$1" "" "${2:-}"
    sc_expect_ok
    sc_print_json "$SC_BODY"
}

# sc_ask VAR LABEL: read a missing value from the terminal into VAR, asking
# again while the answer is empty. Without a terminal, a missing value is a
# usage error (exit 2), never a hang.
sc_ask() {
    # Prefixed names: the caller's variable must not be shadowed by ours.
    local sc_ask_var=$1 sc_ask_label=$2 sc_ask_answer
    if [[ ! -t 0 ]]; then
        sc_usage_error "missing $sc_ask_label (give it as an argument; stdin is not a terminal)"
    fi
    while :; do
        if ! read -r -p "Please enter the $sc_ask_label: " sc_ask_answer; then
            printf '\n' >&2
            sc_die 2 "no $sc_ask_label given"
        fi
        # Pasted values often carry spaces around them; none of ours has any.
        sc_ask_answer=${sc_ask_answer#"${sc_ask_answer%%[![:space:]]*}"}
        sc_ask_answer=${sc_ask_answer%"${sc_ask_answer##*[![:space:]]}"}
        if [[ -n $sc_ask_answer ]]; then
            break
        fi
    done
    printf -v "$sc_ask_var" '%s' "$sc_ask_answer"
}

# sc_no_args "$@": for clients that take no argument besides -h.
sc_no_args() {
    if (($# > 0)); then
        sc_usage_error "unexpected argument '$1'"
    fi
}

# sc_wants_help "$@": true when the first argument asks for help.
sc_wants_help() {
    [[ ${1:-} == -h || ${1:-} == --help ]]
}
