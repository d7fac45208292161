//! The explorer's pages: overview, blocks, a block, a transfer, an address, the pending pool and the search.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;
use serde_json::json;
use wallet::Address;

use super::view::{previous_hash, AddressView, BlockRow, Pager, TxRow};
use super::{error_page, html, see_other, BLOCK_TXS_PER_PAGE, PER_PAGE};
use crate::chain::BlockHash;
use crate::index::TransferId;
use crate::service::Node;
use crate::state::{State, Unreadable};

/// How many blocks and pending transfers the overview lists.
const OVERVIEW_ROWS: usize = 10;

/// The query of a paged list: `?page=N`, read leniently (anything else is page 1).
#[derive(Deserialize)]
pub struct PageQuery {
    page: Option<String>,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct Overview {
    length: usize,
    tip_hash: String,
    difficulty: u32,
    pending: usize,
    peers: Vec<String>,
    address: AddressView,
    latest: Vec<BlockRow>,
    pool: Vec<TxRow>,
}

/// The newest `count` blocks, newest first, from position `end` (exclusive) down.
fn newest_blocks(state: &State, end: usize, count: usize) -> Result<Vec<BlockRow>, Unreadable> {
    let start = end.saturating_sub(count);
    let blocks = state.blocks(start, end)?;
    let hashes = &state.chain().hashes()[start..end];
    Ok(blocks
        .iter()
        .zip(hashes)
        .rev()
        .map(|(block, hash)| BlockRow::new(block, hash))
        .collect())
}

/// The answer when a block the chain holds cannot be read back from the
/// store: a commit is in flight (a moment) or the store is damaged.
fn unreadable_page(error: Unreadable) -> HttpResponse {
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Not readable yet",
        format!("{error}; try again in a moment."),
    )
}

/// The overview of `state` for the node at `address` with `peers`.
fn overview_page(
    state: &State,
    address: &Address,
    peers: Vec<String>,
) -> Result<Overview, Unreadable> {
    let chain = state.chain();
    Ok(Overview {
        length: chain.len(),
        tip_hash: chain.tip_hash().to_hex(),
        difficulty: state.rules().difficulty,
        pending: state.pool().len(),
        peers,
        address: AddressView::new(address),
        latest: newest_blocks(state, chain.len(), OVERVIEW_ROWS)?,
        pool: state
            .pool()
            .iter()
            .take(OVERVIEW_ROWS)
            .map(|t| TxRow::new(t, None, None))
            .collect(),
    })
}

/// `GET /`: the overview.
pub async fn overview(node: web::Data<Node>) -> HttpResponse {
    let peers = node.peers().iter().map(|p| p.to_string()).collect();
    match node.with_state(|state| overview_page(state, node.address(), peers)) {
        Ok(page) => html(StatusCode::OK, &page),
        Err(e) => unreadable_page(e),
    }
}

/// `GET /live`: what the pages watch to know when to refresh.
pub async fn live(node: web::Data<Node>) -> HttpResponse {
    let peers = node.peers().len();
    let body = node.with_state(|state| {
        json!({
            "length": state.chain().len(),
            "tip": state.chain().tip_hash().to_hex(),
            "pending": state.pool().len(),
            "peers": peers,
        })
    });
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(body)
}

#[derive(Template)]
#[template(path = "blocks.html")]
struct Blocks {
    length: usize,
    rows: Vec<BlockRow>,
    pager: Pager,
}

/// `GET /blocks?page=N`: every block, newest first.
pub async fn blocks(node: web::Data<Node>, query: web::Query<PageQuery>) -> HttpResponse {
    let page = node.with_state(|state| {
        let length = state.chain().len();
        let pager = Pager::new(
            query.page.as_deref(),
            length,
            PER_PAGE,
            "/blocks?page=".into(),
        );
        // Page 1 is the newest: its range counts back from the tip.
        let range = pager.range(length, PER_PAGE);
        let end = length - range.start;
        Ok(Blocks {
            length,
            rows: newest_blocks(state, end, range.len())?,
            pager,
        })
    });
    match page {
        Ok(page) => html(StatusCode::OK, &page),
        Err(e) => unreadable_page(e),
    }
}

#[derive(Template)]
#[template(path = "block.html")]
struct BlockPage {
    index: u64,
    length: u64,
    hash: String,
    previous: Option<String>,
    proof: u64,
    time: String,
    timestamp: String,
    count: usize,
    rows: Vec<TxRow>,
    pager: Pager,
}

/// Where a block named by its index or its hash is in the chain.
fn find_block(state: &State, id: &str) -> Option<usize> {
    if let Ok(index) = id.parse::<usize>() {
        return (1..=state.chain().len())
            .contains(&index)
            .then(|| index - 1);
    }
    let hash: BlockHash = id.to_ascii_lowercase().parse().ok()?;
    state.block_of(&hash)
}

/// `GET /block/{index or hash}?page=N`: one block and its transactions.
pub async fn block(
    node: web::Data<Node>,
    id: web::Path<String>,
    query: web::Query<PageQuery>,
) -> HttpResponse {
    let page = node.with_state(|state| block_page(state, &id, query.page.as_deref()));
    match page {
        Some(Ok(page)) => html(StatusCode::OK, &page),
        Some(Err(e)) => unreadable_page(e),
        None => error_page(
            StatusCode::NOT_FOUND,
            "No such block",
            format!("This node has no block {}.", id.as_str()),
        ),
    }
}

/// The page of the block named `id` (index or hash), at transactions page `requested`.
fn block_page(
    state: &State,
    id: &str,
    requested: Option<&str>,
) -> Option<Result<BlockPage, Unreadable>> {
    let at = find_block(state, id)?;
    let block = match state.block(at)? {
        Ok(block) => block,
        Err(e) => return Some(Err(e)),
    };
    let count = block.transactions.len();
    let base = format!("/block/{}?page=", block.index);
    let pager = Pager::new(requested, count, BLOCK_TXS_PER_PAGE, base);
    let rows = block.transactions[pager.range(count, BLOCK_TXS_PER_PAGE)]
        .iter()
        .map(|t| TxRow::new(t, Some(block.index), None))
        .collect();
    Some(Ok(BlockPage {
        index: block.index,
        length: state.chain().len() as u64,
        hash: state.chain().hashes()[at].to_hex(),
        previous: previous_hash(&block.previous_hash),
        proof: block.proof,
        time: super::view::human_time(block.timestamp.as_secs_f64()),
        timestamp: serde_json::to_string(&block.timestamp)
            .expect("a JSON number always serializes"),
        count,
        rows,
        pager,
    }))
}

#[derive(Template)]
#[template(path = "transfer.html")]
struct TransferPage {
    id: String,
    row: TxRow,
    position: usize,
    signature: String,
}

/// The page of the transfer `id`: in the chain (by the index) or pending.
fn find_transfer(state: &State, id: &TransferId) -> Result<Option<TransferPage>, Unreadable> {
    let found = state.transfer(id)?;
    let (transaction, block, position) = match &found {
        Some((block, tx)) => (&block.transactions[*tx], Some(block.index), *tx),
        // The pool is capped (node.max_pool), so this scan is bounded.
        None => {
            let pending = state
                .pool()
                .iter()
                .find(|t| TransferId::of_transaction(t).as_ref() == Some(id));
            match pending {
                Some(t) => (t, None, 0),
                None => return Ok(None),
            }
        }
    };
    Ok(Some(TransferPage {
        id: id.to_string(),
        row: TxRow::new(transaction, block, None),
        position: position + 1,
        signature: transaction
            .signature()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
    }))
}

/// `GET /tx/{id}`: one transfer, in a block or pending.
pub async fn transfer(node: web::Data<Node>, id: web::Path<String>) -> HttpResponse {
    let Ok(parsed) = id.parse::<TransferId>() else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Not a transfer id",
            format!(
                "{:?} is not a transfer id (32 hex digits: the first 16 bytes of the SHA-256 of the signature).",
                id.as_str()
            ),
        );
    };
    match node.with_state(|state| find_transfer(state, &parsed)) {
        Ok(Some(page)) => html(StatusCode::OK, &page),
        Err(e) => unreadable_page(e),
        Ok(None) => error_page(
            StatusCode::NOT_FOUND,
            "No such transfer",
            format!("No transfer {parsed} is in the chain or pending."),
        ),
    }
}

/// The query of the address page.
#[derive(Deserialize)]
pub struct AddressQuery {
    address: Option<String>,
    page: Option<String>,
}

#[derive(Template)]
#[template(path = "address.html")]
struct AddressPage {
    address: AddressView,
    balance: u64,
    pending: u64,
    available: u64,
    total: usize,
    rows: Vec<TxRow>,
    pager: Pager,
}

/// `GET /address?address=...&page=N`: a balance and its transactions, newest first.
pub async fn address(node: web::Data<Node>, query: web::Query<AddressQuery>) -> HttpResponse {
    let text = query.address.as_deref().unwrap_or("").trim();
    let address = match Address::parse(text) {
        Ok(address) => address,
        Err(e) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Not an address",
                format!("That is not a valid address: {e}."),
            )
        }
    };
    match node.with_state(|state| address_page(state, &address, query.page.as_deref())) {
        Ok(page) => html(StatusCode::OK, &page),
        Err(e) => unreadable_page(e),
    }
}

/// The page of `address`'s balance and transactions, at page `requested`.
fn address_page(
    state: &State,
    address: &Address,
    requested: Option<&str>,
) -> Result<AddressPage, Unreadable> {
    let view = AddressView::new(address);
    let spots = state.index().activity(address);
    let total = spots.len();
    let base = format!("{}&page=", view.href());
    let pager = Pager::new(requested, total, PER_PAGE, base);
    // Page 1 is the newest: count back from the end of the oldest-first list.
    let range = pager.range(total, PER_PAGE);
    let mut rows = Vec::with_capacity(range.len());
    for spot in spots[total - range.end..total - range.start].iter().rev() {
        let block = state
            .block(spot.block as usize)
            .expect("the index only holds positions in the chain")?;
        rows.push(TxRow::new(
            &block.transactions[spot.tx as usize],
            Some(block.index),
            Some(address),
        ));
    }
    let (balance, pending) = state.balance(address);
    Ok(AddressPage {
        address: view,
        balance,
        pending,
        available: balance.saturating_sub(pending),
        total,
        rows,
        pager,
    })
}

#[derive(Template)]
#[template(path = "pool.html")]
struct PoolPage {
    tip_hash: String,
    total: usize,
    peers: usize,
    rows: Vec<TxRow>,
    pager: Pager,
}

/// `GET /pool?page=N`: the pending transfers, oldest first.
pub async fn pool(node: web::Data<Node>, query: web::Query<PageQuery>) -> HttpResponse {
    let peers = node.peers().len();
    let page = node.with_state(|state| {
        let total = state.pool().len();
        let pager = Pager::new(query.page.as_deref(), total, PER_PAGE, "/pool?page=".into());
        let range = pager.range(total, PER_PAGE);
        // The pool is capped (node.max_pool), so skipping is bounded.
        let rows = state
            .pool()
            .iter()
            .skip(range.start)
            .take(range.len())
            .map(|t| TxRow::new(t, None, None))
            .collect();
        PoolPage {
            tip_hash: state.chain().tip_hash().to_hex(),
            total,
            peers,
            rows,
            pager,
        }
    });
    html(StatusCode::OK, &page)
}

/// The query of the search box.
#[derive(Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
}

/// `GET /search?q=...`: to the page of an address, a block (index or
/// hash) or a transfer id, or a page saying nothing matched.
pub async fn search(node: web::Data<Node>, query: web::Query<SearchQuery>) -> HttpResponse {
    let q = query.q.as_deref().unwrap_or("").trim();
    let found = node.with_state(|state| {
        if find_block(state, q).is_some() {
            return Some(format!("/block/{}", q.to_ascii_lowercase()));
        }
        let id = q.parse::<TransferId>().ok()?;
        // An unreadable block is found, and its page says why it cannot show.
        match find_transfer(state, &id) {
            Ok(None) => None,
            Ok(Some(_)) | Err(_) => Some(format!("/tx/{id}")),
        }
    });
    if let Some(location) = found {
        return see_other(&location);
    }
    if let Ok(address) = Address::parse(q) {
        return see_other(&AddressView::new(&address).href());
    }
    error_page(
        StatusCode::NOT_FOUND,
        "Nothing found",
        format!("No address, block or transfer matches {q:?}. Search takes an address, a block index or hash, or a transfer id."),
    )
}

/// The explorer's pages rendered straight from a state (the code the
/// handlers run under the state's lock), for the benchmark.
pub mod render {
    use askama::Template as _;
    use wallet::Address;

    use crate::state::State;

    use crate::state::Unreadable;

    /// The overview's HTML.
    pub fn overview(
        state: &State,
        address: &Address,
        peers: Vec<String>,
    ) -> Result<String, Unreadable> {
        let page = super::overview_page(state, address, peers)?;
        Ok(page.render().expect("the overview's fields always render"))
    }

    /// A block page's HTML (`id` is an index or a hash); `None` if there is no such block.
    pub fn block(
        state: &State,
        id: &str,
        page: Option<&str>,
    ) -> Option<Result<String, Unreadable>> {
        let page = super::block_page(state, id, page)?;
        Some(page.map(|p| p.render().expect("a block page's fields always render")))
    }

    /// An address page's HTML.
    pub fn address(
        state: &State,
        address: &Address,
        page: Option<&str>,
    ) -> Result<String, Unreadable> {
        let page = super::address_page(state, address, page)?;
        Ok(page
            .render()
            .expect("an address page's fields always render"))
    }
}
