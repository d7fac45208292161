#!/usr/bin/env bash
# docs/quickstart.sh: the README quickstart as one script. Two nodes, a signed
# payment, mining and consensus, all through the bash clients.
#
# Run it (bash docs/quickstart.sh) or type its commands yourself. Settings:
#   SIGCHAIN_BIN_DIR  where sigchain-node, sigscript and wallet are; when unset they
#                     are built into target/release
#   PORT1, PORT2      the two nodes' ports (default 5000 and 5001)
#   SIGCHAIN_DATA     where the nodes keep their data (default data, so the
#                     first node uses data/node-5000)
#   DIFFICULTY        proof-of-work difficulty (default: config.toml's, 4)
set -euo pipefail
cd "$(dirname -- "$0")/.."   # the repository root

BIN=${SIGCHAIN_BIN_DIR:-target/release}
PORT1=${PORT1:-5000}
PORT2=${PORT2:-5001}
DATA=${SIGCHAIN_DATA:-data}
NODE1=http://localhost:$PORT1
NODE2=http://localhost:$PORT2

step() { printf '\n== %s\n' "$*"; }

# start_node PORT: run a node in the background (its log goes to
# DATA/node-PORT.log) and wait until it answers, at most 30 seconds.
start_node() {
    if curl -fs --noproxy '*' -o /dev/null "http://localhost:$1/health"; then
        echo "port $1 is taken (a node already running there? stop it, or set PORT1/PORT2)" >&2
        exit 1
    fi
    mkdir -p "$DATA"
    "$BIN/sigchain-node" --port "$1" --data-dir "$DATA/node-$1" ${DIFFICULTY:+--difficulty "$DIFFICULTY"} \
        >"$DATA/node-$1.log" 2>&1 &
    started=$!
    for _ in $(seq 150); do
        if curl -fs --noproxy '*' -o /dev/null "http://localhost:$1/health"; then return 0; fi
        if ! kill -0 "$started" 2>/dev/null; then
            echo "the node on port $1 did not start; see $DATA/node-$1.log" >&2
            exit 1
        fi
        sleep 0.2
    done
    echo "the node on port $1 did not answer within 30 s; see $DATA/node-$1.log" >&2
    exit 1
}

# Whatever happens, stop the nodes this script started when it ends.
node1="" node2=""
stop_nodes() {
    for pid in $node1 $node2; do kill "$pid" 2>/dev/null || true; done
    wait
    node1="" node2=""
}
trap stop_nodes EXIT

step "1. Build the node, sigscript and wallet"
if [[ -z ${SIGCHAIN_BIN_DIR:-} ]]; then
    cargo build --release -p node -p sigscript
fi

step "2. Start a node on port $PORT1 (data in $DATA/node-$PORT1)"
start_node "$PORT1"
node1=$started

step "3. Point the clients at it"
. client-scripts/rc "$NODE1"   # now mine, chain, secret, ... are commands
echo "clientHost=$clientHost"

step "4. The node's wallet: its secret (keep it to yourself) and its address"
secret=$(secret)
me=$(balance --address)
echo "address: ${me:0:40}... (${#me} characters); secret: ${#secret} characters, not shown"

step "5. Mine a block: the reward pays the node's address"
mine
balance

step "6. A second wallet to pay (its secret goes to $DATA/friend.key, mode 0600)"
if [[ ! -f $DATA/friend.key ]]; then
    "$BIN/wallet" new --out "$DATA/friend.key" >/dev/null
fi
friend=$("$BIN/wallet" address --secret-file "$DATA/friend.key")
echo "friend: ${friend:0:40}..."

step "7. Sign 'pay friend 1 coin' with the node's secret"
# The secret goes in on stdin (-), so it never shows in the process list.
# The nonce makes this payment new each time the script runs: the node
# refuses a signature it has already seen.
nonce=$(date +%s)
signature=$(printf '%s' "$secret" | "$BIN/sigscript" --nonce "$nonce" "$me" "$friend" 1 -)
echo "signature: ${signature:0:40}..."

step "8. Send it, and see it wait in the pool"
sendTransaction "$me" "$friend" 1 "$signature" "$nonce"
transactions

step "9. Mine it into a block, and look at the chain and the balances"
mine
chain
balance "$friend"
balance

step "10. Start a second node on port $PORT2, register the first, resolve"
start_node "$PORT2"
node2=$started
. client-scripts/rc "$NODE2"
register "$NODE1"
resolve   # the second node adopts the first node's longer chain
if [[ $(chain) == "$(clientHost=$NODE1 chain)" ]]; then
    echo "the node on port $PORT2 now has the same chain as the node on port $PORT1"
else
    echo "the two chains differ" >&2
    exit 1
fi

step "11. Stop both nodes"
stop_nodes
echo "done; the nodes' data stays in $DATA for next time"
