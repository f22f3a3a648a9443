//! `chatter gen`: a deterministic synthetic load generator for the comment stream and the
//! entity catalog (SPEC §1 input formats), with velocity bursts that fire alerts (SPEC §2.3).
//!
//! Everything is a pure function of [`GenConfig`]: the same config gives byte-identical
//! output (a `ChaCha8Rng` seeded from `seed`, no hash-map iteration, no wall clock).
//!
//! What the comment stream contains, in arrival order:
//! - **inserts** (`comments` of them): background comments arriving as a Poisson process
//!   at `comments_per_minute`, with non-decreasing `created_at` (whole seconds, RFC 3339 `Z`);
//!   a `late_fraction` of them carry a `created_at` 10–60 minutes behind the stream's current
//!   time (the newest `created_at` emitted so far); and the injected burst comments.
//!   Entity popularity is Zipf (s = 1.1); a comment mentions 0–3 entities as `$ZQX`, bare
//!   `ZQX`, or the alias in mixed case / with doubled spaces / with a line break, rarely as a
//!   lower-case or full-width cashtag (`$zqx`, `$ＺＱＸ`, equal after NFKC + case folding).
//!   About 3% are Spanish/German/French/Russian/Japanese; ~20% have no entity, a few have an
//!   empty text; ~5% are written with `\uXXXX` escapes (ASCII-only JSON), ~3% omit their null
//!   optional fields and ~4% carry an unknown field (`"flair"`). Authors come from a pool of
//!   `comments / 5` names (10..=1M) with Zipf–Mandelbrot activity; sources/channels from a
//!   fixed list (reddit ids `t1_…` with `thread_id`/`parent_id` mostly set, stocktwits
//!   `st_…`, twitter numeric strings, both without threads); `score` a small int or null.
//! - **edits**: an earlier comment (arrived within the last 30 minutes of stream time) re-sent
//!   with the same id and `created_at`, a new text (sometimes one mention more or less) and
//!   `"edited_at"` = the stream's current time.
//! - **deletes**: `{"id":..,"deleted":true}` for an earlier comment, half with `"deleted_at"`.
//! - **malformed** lines, rotating kinds: truncated JSON, a non-object, missing `id`, empty
//!   `id`, `id` over 256 bytes, missing `text`, `created_at` not a timestamp, `created_at` in
//!   1970, numeric `text`, invalid UTF-8 inside the text string, and (only when
//!   `comments >= 100_000`, at most once) a record over 1 MiB.
//!
//! Bursts: each planned burst picks a low-rate entity (never the most popular one) and one
//! aligned 5-minute window after the first two hours of stream time. When the stream reaches
//! the window, the generator looks at that entity's exact counts in the 12 previous windows
//! and injects `max(40, what the default rule needs + 25%)` comments mentioning it (always as
//! `$ID` or bare `ID`), so that with the defaults (`min_mentions` 10, z ≥ 3 with the std
//! floored at 1, ratio ≥ 2) the window certainly alerts. To keep that true after every edit,
//! delete and late arrival, burst entities never appear in late comments or in edited texts,
//! and comments mentioning them are never edited or deleted.
//!
//! Determinism caveat: arrival times use `f64::ln`/`powf` from the platform's libm, so output
//! is byte-identical for a given build and platform; across platforms it is expected to be
//! identical too, but only the former is guaranteed.
//!
//! One file over 800 lines: the generator's parts (catalog, background stream, bursts, edits,
//! late and malformed records, the Kafka producer loop) draw from one seeded stream in a fixed
//! order, which is what makes the output byte-identical; splitting them would spread that
//! order over modules.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::Write;
use std::path::Path;

use rand::seq::index::sample as sample_indices;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Window size of SPEC §2.3 (default W).
const WINDOW_MS: i64 = 300_000;
/// Baseline windows K of SPEC §2.3.
const BASELINE_WINDOWS: i64 = 12;
/// Fewest comments injected by one burst.
const MIN_BURST_MENTIONS: u64 = 40;
/// Bursts start this long after the first comment.
const BURST_WARMUP_MS: i64 = 2 * 3_600_000;
/// Edits and deletes target comments that arrived within this much stream time.
const EDIT_LOOKBACK_MS: i64 = 30 * 60_000;
/// At most this many recent comments are remembered as edit/delete targets.
const RING_CAP: usize = 4096;
/// The default message size limit of SPEC §1.1.
const MAX_RECORD_BYTES: usize = 1 << 20;
/// Zipf exponent of entity popularity.
const ENTITY_ZIPF_S: f64 = 1.1;
/// Mean number of mentions per (English) comment given the 0/1/2/3 mix in `sample_mentions`.
const MEAN_MENTIONS: f64 = 1.2;
/// Offset q of the Zipf–Mandelbrot author activity law.
const AUTHOR_Q: f64 = 10.0;
/// Reddit-style thread slots per channel.
const THREAD_SLOTS: usize = 24;

/// What to generate. `Default` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Number of comment records (inserts, including late and burst comments), default 10_000.
    pub comments: u64,
    /// Seed of every random choice, default 42.
    pub seed: u64,
    /// Catalog size, default 200.
    pub entities: usize,
    /// Event time of the first comment (floored to whole seconds), default 2021-01-04T00:00:00Z.
    pub start_ms: i64,
    /// Mean background rate; non-positive or non-finite values mean the default 60.0.
    pub comments_per_minute: f64,
    /// Injected bursts, default 3 (0 allowed). Fewer are placed when the stream is too short
    /// (bursts need two hours of warm-up and a window inside the stream) or the catalog too
    /// small (fewer than 2 entities: none); `GenSummary::bursts` lists those actually placed.
    pub bursts: usize,
    /// Expected extra edit records per insert, default 0.02: an earlier comment re-sent with
    /// the same id, a new text and `"edited_at"`.
    pub edit_fraction: f64,
    /// Expected extra delete records per insert, default 0.01: `{"id":..,"deleted":true}`
    /// (half with `"deleted_at"`).
    pub delete_fraction: f64,
    /// Probability that a background insert is late, default 0.01: its created_at is 10-60
    /// minutes behind the stream's current time.
    pub late_fraction: f64,
    /// Expected extra malformed lines per insert, default 0.002, of every kind in rotation.
    pub malformed_fraction: f64,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            comments: 10_000,
            seed: 42,
            entities: 200,
            start_ms: time::macros::datetime!(2021-01-04 00:00:00 UTC).unix_timestamp() * 1000,
            comments_per_minute: 60.0,
            bursts: 3,
            edit_fraction: 0.02,
            delete_fraction: 0.01,
            late_fraction: 0.01,
            malformed_fraction: 0.002,
        }
    }
}

/// What was generated (for the CLI summary and for tests).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GenSummary {
    /// Comment inserts (background, late and burst comments); equals `GenConfig::comments`.
    pub comments: u64,
    /// Edit records (same id as an earlier comment, with `edited_at`).
    pub edits: u64,
    /// Delete records (`"deleted": true`).
    pub deletes: u64,
    /// Late inserts (created_at 10-60 minutes behind the stream's current time).
    pub late: u64,
    /// Malformed lines (every one of them must be dead-lettered).
    pub malformed: u64,
    /// Smallest created_at of an insert (0 when there are none).
    pub first_created_at_ms: i64,
    /// Largest created_at of an insert (0 when there are none).
    pub last_created_at_ms: i64,
    /// The bursts actually placed, in time order. May hold fewer than `GenConfig::bursts`
    /// when the stream is shorter than two hours plus a window, the catalog has fewer than two
    /// entities, or the comment budget ran out before a planned burst: it always tells the truth.
    pub bursts: Vec<Burst>,
}

/// One injected burst: `mentions` extra comments that mention `entity_id`, all with
/// created_at inside `[window_start_ms, window_start_ms + 300_000)`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Burst {
    pub entity_id: String,
    pub window_start_ms: i64,
    pub mentions: u64,
}

/// One JSON object per line (no trailing newline), catalog in id order.
pub fn entity_lines(cfg: &GenConfig) -> Vec<Vec<u8>> {
    let ents = build_catalog(cfg.seed, cfg.entities);
    let mut order: Vec<usize> = (0..ents.len()).collect();
    order.sort_by(|&a, &b| ents[a].id.cmp(&ents[b].id));
    order
        .into_iter()
        .map(|i| {
            let e = &ents[i];
            let mut aliases = vec![e.alias.as_str()];
            if e.one_word {
                aliases.push(e.first.as_str());
            }
            let line = EntityJson {
                id: &e.id,
                kind: "ticker",
                name: &e.name,
                aliases,
                symbols: [&e.id],
                attributes: EntityAttrs {
                    sector: e.sector,
                    exchange: e.exchange,
                },
            };
            serde_json::to_vec(&line).expect("entity serializes")
        })
        .collect()
}

/// Writes DIR/comments.jsonl and DIR/entities.jsonl (creating DIR), returns the summary.
pub fn write_dir(cfg: &GenConfig, dir: &Path) -> std::io::Result<GenSummary> {
    std::fs::create_dir_all(dir)?;
    let mut ents = std::io::BufWriter::new(std::fs::File::create(dir.join("entities.jsonl"))?);
    for line in entity_lines(cfg) {
        ents.write_all(&line)?;
        ents.write_all(b"\n")?;
    }
    ents.flush()?;
    let file = std::fs::File::create(dir.join("comments.jsonl"))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut stream = CommentStream::new(cfg);
    let mut buf = Vec::with_capacity(1024);
    while stream.next_into(&mut buf) {
        buf.push(b'\n');
        w.write_all(&buf)?;
    }
    w.flush()?;
    Ok(stream.summary().clone())
}

#[derive(serde::Serialize)]
struct EntityJson<'a> {
    id: &'a str,
    kind: &'static str,
    name: &'a str,
    aliases: Vec<&'a str>,
    symbols: [&'a str; 1],
    attributes: EntityAttrs,
}

#[derive(serde::Serialize)]
struct EntityAttrs {
    sector: &'static str,
    exchange: &'static str,
}

// ---------------------------------------------------------------------------------------------
// Vocabulary
// ---------------------------------------------------------------------------------------------

/// Mention templates: `pre` + mention + `post`. `pre` is empty or ends in a space, `post`
/// starts with a space or punctuation, so every mention is a whole token.
const MENTION_TEMPLATES: &[(&str, &str)] = &[
    ("", " to the moon 🚀🚀"),
    ("I love ", ", great management."),
    ("Bought more ", " today 💎🙌"),
    ("", " earnings were terrible, expecting a crash."),
    ("", " is not good at all."),
    ("Anyone else holding ", "?"),
    ("", " looks amazing on the daily chart 📈"),
    ("Sold my ", " calls, what a loss 😭"),
    ("", " is a scam, stay away."),
    ("Why is ", " down so much today?"),
    ("DD on ", ": revenue up, debt down, happy with it."),
    ("", " squeeze incoming 🔥"),
    ("I hate how ", " trades after hours."),
    ("", " and chill."),
    ("Just YOLO'd my savings into ", "."),
    ("", " dumping hard 📉 this is awful"),
    ("Is ", " a buy here or am I late?"),
    ("My wife's boyfriend says ", " is the future."),
    ("", " guidance was not good, but the dip is a gift."),
    ("Long ", ", short sleep."),
    ("", " management is excellent, love the new CEO."),
    ("Bag holding ", " since last year, feeling sad."),
    ("Paper hands selling ", ", lol 🤡"),
    ("", " beat estimates, great quarter!"),
    ("Never touching ", " again. Worst trade ever."),
    ("What's the price target on ", "?"),
    ("Loaded up on ", " at the open 🚀"),
    ("", " is going to crash, mark my words."),
];

/// Templates for burst comments (same shape as `MENTION_TEMPLATES`).
const BURST_TEMPLATES: &[(&str, &str)] = &[
    ("", " is squeezing right now 🚀🚀🚀"),
    ("Everyone is talking about ", " today!"),
    ("", " just broke out, volume is insane 📈"),
    ("Load up on ", " before it's too late 🚀"),
    ("", " to the moon!!! 💎🙌"),
    ("Why is ", " exploding?"),
    ("Just bought ", " calls, love this"),
    ("", " halted again lol"),
    ("", " short squeeze confirmed? 🔥"),
    ("Can't believe ", " is up this much, great day"),
];

const FILLERS: &[&str] = &[
    "What a great day in the market.",
    "This is terrible.",
    "lol 😂",
    "Honestly not good, I'm worried.",
    "Diamond hands 💎🙌",
    "Buy the dip!",
    "The market is going to crash hard, I can feel it.",
    "I love this sub.",
    "Not financial advice.",
    "Thoughts?",
    "To the moon 🚀",
    "Holding strong.",
    "This is the way.",
    "Apes together strong 🦍",
    "I'm not selling.",
    "Feeling bullish today.",
    "Bears are getting crushed.",
    "Volume is huge today.",
    "Can't stop, won't stop.",
    "Fed meeting tomorrow, be careful.",
    "My portfolio is a disaster 😭",
    "Loving these gains!",
    "Wow, what a terrible open.",
    "Stop loss hit again, awful.",
    "Good luck everyone.",
    "Inflation is scary.",
    "HODL.",
    "Check the options chain, very interesting.",
    "Not good, not terrible.",
    "I'm so happy I held.",
    "Panic selling everywhere.",
    "Rate cuts are coming, I think.",
    "This sub is hilarious 😂",
    "Nobody knows anything, be safe.",
    "Green day! 📈",
    "Red everywhere 📉",
    "Great DD, thanks for sharing.",
    "Who else is here from the morning thread?",
];

/// Sentences per language (es, de, fr, ru, ja).
const FOREIGN: &[&[&str]] = &[
    &[
        "Compré más acciones hoy, el mercado está increíble.",
        "No me gusta nada esta empresa, creo que va a caer mucho.",
        "¿Alguien sabe por qué bajó tanto el precio hoy?",
        "Mantengo mis acciones, no pienso vender todavía.",
    ],
    &[
        "Ich habe heute mehr Aktien gekauft, das wird großartig.",
        "Das sieht gar nicht gut aus, ich verkaufe alles.",
        "Weiß jemand, warum der Kurs heute so stark gefallen ist?",
        "Ich halte meine Aktien und verkaufe noch nicht.",
    ],
    &[
        "J'ai acheté encore des actions aujourd'hui, c'est génial.",
        "Ça ne sent pas bon du tout, je vends tout.",
        "Quelqu'un sait pourquoi le cours a autant chuté aujourd'hui ?",
        "Je garde mes actions, je ne vends pas encore.",
    ],
    &[
        "Сегодня купил ещё акций, всё будет отлично.",
        "Это выглядит очень плохо, я продаю всё.",
        "Кто-нибудь знает, почему акции сегодня так упали?",
        "Я держу свои акции и пока не продаю.",
    ],
    &[
        "今日はもっと株を買いました。素晴らしいです。",
        "これは本当にひどい。全部売ります。",
        "なぜ今日こんなに株価が下がったのか誰か知っていますか？",
        "まだ売りません。ずっと持ち続けます。",
    ],
];

const SECOND_WORDS: &[&str] = &[
    "Aerospace",
    "Analytics",
    "Biosciences",
    "Brands",
    "Capital",
    "Dynamics",
    "Energy",
    "Foods",
    "Genomics",
    "Holdings",
    "Industries",
    "Jetways",
    "Kinetics",
    "Logistics",
    "Materials",
    "Media",
    "Mining",
    "Motors",
    "Networks",
    "Optics",
    "Payments",
    "Pharma",
    "Quantum",
    "Robotics",
    "Retail",
    "Semiconductor",
    "Software",
    "Systems",
    "Telecom",
    "Therapeutics",
    "Utilities",
    "Ventures",
    "Vision",
    "Water",
    "Xpress",
    "Yield",
    "Zeta",
];
const NAME_SUFFIXES: &[&str] = &["Corp.", "Inc.", "Group", "PLC", "Co.", "Ltd."];
const SECTORS: &[&str] = &[
    "Technology",
    "Healthcare",
    "Financial Services",
    "Consumer Cyclical",
    "Consumer Defensive",
    "Energy",
    "Industrials",
    "Communication Services",
    "Basic Materials",
    "Utilities",
    "Real Estate",
];
const EXCHANGES: &[&str] = &["NASDAQ", "NYSE", "NYSE American", "OTC", "TSX"];

/// (source, channel, weight). Reddit channels have threads.
const CHANNELS: &[(&str, &str, u32)] = &[
    ("reddit", "wallstreetbets", 38),
    ("reddit", "stocks", 14),
    ("reddit", "investing", 10),
    ("reddit", "pennystocks", 8),
    ("reddit", "options", 7),
    ("reddit", "StockMarket", 6),
    ("stocktwits", "stocktwits", 10),
    ("twitter", "fintwit", 7),
];
const FLAIRS: &[&str] = &["DD", "YOLO", "Gain", "Loss", "Discussion", "News"];

const AUTHOR_ADJ: &[&str] = &[
    "diamond", "paper", "moon", "rocket", "bull", "bear", "tendie", "smooth", "wrinkly", "lucky",
    "crayon", "degen", "chill", "greedy", "humble", "salty", "based", "retail", "quiet", "lazy",
    "early", "late", "green", "red",
];
const AUTHOR_NOUN: &[&str] = &[
    "hands",
    "ape",
    "trader",
    "investor",
    "whale",
    "lord",
    "king",
    "guy",
    "gal",
    "brain",
    "bagholder",
    "chad",
    "wizard",
    "monk",
    "pilot",
    "farmer",
    "cat",
    "dog",
    "fox",
    "otter",
];

/// Zero-vowel abbreviations and the few real words that pass the id shape rule.
const ID_BLACKLIST: &[&str] = &[
    "KKK", "XXX", "ZZZ", "ZZZZ", "XXXX", "WTF", "FFS", "NSFW", "SMH", "TBH", "BTW", "LMK", "FML",
    "NGL", "PPL", "THX", "PLS", "PLZ", "BRB", "NFT", "CNBC", "CNN", "HTML", "HTTP", "WWW", "PDF",
    "PNG", "JPG", "DVD", "BLM", "NFL", "NHL", "HMM", "HMMM", "BRR", "BRRR", "GRR", "GRRR", "PST",
    "PSST", "TSK", "SHH", "SHHH", "MMM", "NTH", "CWM", "PFFT", "WSB", "GDP", "PPP", "QQQ", "SPX",
    "TQQQ", "SQQQ", "JINX", "JAZZ", "VOX", "ZAX", "JINK", "JIZZ", "FGT", "NGR", "KVLT", "XMPP",
    "SQL", "CSS", "PHP", "JPM", "WFC", "VTV", "TLT", "FTX", "CFPB", "DMV", "SVB", "LTCM",
];

const VOWELS: &[u8] = b"AEIOUY";
const RARE: &[u8] = b"JKQVXZ";

/// Every alphanumeric token of the fixed texts (templates, fillers, foreign sentences,
/// second words), lower-cased: synthetic names must avoid them, ids must avoid their upper case.
fn vocabulary() -> HashSet<String> {
    let mut set = HashSet::new();
    let mut add = |s: &str| {
        for tok in s.split(|c: char| !c.is_alphanumeric()) {
            if !tok.is_empty() {
                set.insert(tok.to_lowercase());
            }
        }
    };
    for (a, b) in MENTION_TEMPLATES.iter().chain(BURST_TEMPLATES) {
        add(a);
        add(b);
    }
    FILLERS.iter().for_each(|s| add(s));
    FOREIGN.iter().flat_map(|l| l.iter()).for_each(|s| add(s));
    SECOND_WORDS.iter().for_each(|s| add(s));
    NAME_SUFFIXES.iter().for_each(|s| add(s));
    set
}

// ---------------------------------------------------------------------------------------------
// Catalog
// ---------------------------------------------------------------------------------------------

struct Entity {
    id: String,
    /// "Zentrix": unique across the catalog, also the optional one-word alias.
    first: String,
    second: &'static str,
    name: String,
    alias: String,
    alias_lower: String,
    alias_upper: String,
    first_lower: String,
    id_lower: String,
    id_fullwidth: String,
    one_word: bool,
    sector: &'static str,
    exchange: &'static str,
}

fn id_shape_ok(id: &[u8]) -> bool {
    let vowels = id.iter().filter(|c| VOWELS.contains(c)).count();
    let rare = id.iter().filter(|c| RARE.contains(c)).count();
    vowels == 0 || (vowels == 1 && rare >= 2)
}

/// A fresh id: 3-4 upper-case letters with no vowel, or one vowel and two of J/K/Q/V/X/Z
/// (so never an English word), not blacklisted, not in the vocabulary. When 2000 draws in a
/// row collide (the short ids are nearly used up), ids get one letter longer from then on.
fn gen_entity_id(
    rng: &mut ChaCha8Rng,
    taken: &HashSet<String>,
    vocab: &HashSet<String>,
    extra_len: &mut usize,
) -> String {
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        if attempts > 2000 {
            *extra_len += 1;
            attempts = 0;
        }
        let len = *extra_len + if rng.gen_bool(0.4) { 3 } else { 4 };
        let id: Vec<u8> = (0..len).map(|_| b'A' + rng.gen_range(0..26u8)).collect();
        if !id_shape_ok(&id) {
            continue;
        }
        let id = String::from_utf8(id).expect("ascii");
        if taken.contains(&id)
            || ID_BLACKLIST.contains(&id.as_str())
            || vocab.contains(&id.to_lowercase())
        {
            continue;
        }
        return id;
    }
}

fn gen_first_word(
    rng: &mut ChaCha8Rng,
    initial: u8,
    taken: &HashSet<String>,
    vocab: &HashSet<String>,
    index: usize,
) -> String {
    const V: &[&str] = &["a", "e", "i", "o", "u", "y"];
    const MID: &[&str] = &[
        "n", "r", "l", "st", "v", "nd", "m", "lt", "rv", "x", "z", "th", "c", "ph", "tr", "lv",
    ];
    const END: &[&str] = &[
        "trix", "vex", "ora", "ion", "yx", "ara", "ium", "ova", "enza", "ix", "alis", "ent", "ico",
        "umo", "ant", "eon", "iva", "ura", "onix", "ella", "aris", "opia", "ulon",
    ];
    let initial = initial.to_ascii_lowercase() as char;
    for attempt in 0..64 {
        let mut w = String::new();
        w.push(initial);
        if initial == 'q' {
            w.push('u');
        }
        if !matches!(initial, 'a' | 'e' | 'i' | 'o' | 'u' | 'y') {
            w.push_str(V[rng.gen_range(0..V.len())]);
        }
        w.push_str(MID[rng.gen_range(0..MID.len())]);
        if attempt >= 24 {
            w.push_str(V[rng.gen_range(0..V.len())]);
            w.push_str(MID[rng.gen_range(0..MID.len())]);
        }
        w.push_str(END[rng.gen_range(0..END.len())]);
        if w.len() >= 5 && !taken.contains(&w) && !vocab.contains(&w) {
            return capitalize(&w);
        }
    }
    // Practically unreachable: make it unique with the index spelled in letters.
    let mut w = String::new();
    w.push(initial);
    w.push_str("ovex");
    let mut i = index;
    loop {
        w.push((b'a' + (i % 26) as u8) as char);
        i /= 26;
        if i == 0 {
            break;
        }
    }
    capitalize(&w)
}

fn capitalize(w: &str) -> String {
    let mut c = w.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The catalog, index = popularity rank (0 = most popular).
fn build_catalog(seed: u64, n: usize) -> Vec<Entity> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(1);
    let vocab = vocabulary();
    let mut ids = HashSet::new();
    let mut firsts = HashSet::new();
    let mut extra_len = 0;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let id = gen_entity_id(&mut rng, &ids, &vocab, &mut extra_len);
        ids.insert(id.clone());
        let bytes = id.as_bytes();
        let first = gen_first_word(&mut rng, bytes[0], &firsts, &vocab, i);
        firsts.insert(first.to_lowercase());
        let want = bytes[1];
        let matching: Vec<&'static str> = SECOND_WORDS
            .iter()
            .copied()
            .filter(|w| w.as_bytes()[0] == want)
            .collect();
        let second = if !matching.is_empty() && rng.gen_bool(0.8) {
            matching[rng.gen_range(0..matching.len())]
        } else {
            SECOND_WORDS[rng.gen_range(0..SECOND_WORDS.len())]
        };
        let suffix = NAME_SUFFIXES[rng.gen_range(0..NAME_SUFFIXES.len())];
        let alias = format!("{first} {second}");
        let one_word = rng.gen_bool(0.4);
        let sector = SECTORS[rng.gen_range(0..SECTORS.len())];
        let exchange = EXCHANGES[rng.gen_range(0..EXCHANGES.len())];
        out.push(Entity {
            name: format!("{alias} {suffix}"),
            alias_lower: alias.to_lowercase(),
            alias_upper: alias.to_uppercase(),
            first_lower: first.to_lowercase(),
            id_lower: id.to_lowercase(),
            id_fullwidth: id
                .chars()
                .map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap_or(c))
                .collect(),
            alias,
            first,
            second,
            id,
            one_word,
            sector,
            exchange,
        });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

/// Zipf(s) over `0..n`, sampled in O(1) with Vose's alias method.
struct Zipf {
    pmf: Vec<f64>,
    /// Per slot: (keep threshold out of 2^32, alias), packed for one cache miss per sample.
    table: Vec<(u32, u32)>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let weights: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-s)).collect();
        let total: f64 = weights.iter().sum();
        let pmf: Vec<f64> = weights.iter().map(|w| w / total).collect();
        let mut prob: Vec<f64> = pmf.iter().map(|p| p * n as f64).collect();
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| prob[i] < 1.0);
        while let (Some(&l), Some(g)) = (small.last(), large.pop()) {
            small.pop();
            alias[l] = g as u32;
            prob[g] -= 1.0 - prob[l];
            if prob[g] < 1.0 {
                small.push(g);
            } else {
                large.push(g);
            }
        }
        for i in small.into_iter().chain(large) {
            prob[i] = 1.0;
        }
        let table = prob
            .iter()
            .zip(alias)
            .map(|(&p, a)| ((p * 4_294_967_296.0).min(u32::MAX as f64) as u32, a))
            .collect();
        Zipf { pmf, table }
    }
    fn pmf(&self, i: usize) -> f64 {
        self.pmf[i]
    }
    fn sample(&self, rng: &mut ChaCha8Rng) -> usize {
        let r = rng.next_u64();
        let i = (((r >> 32) * self.table.len() as u64) >> 32) as usize;
        let (keep, alias) = self.table[i];
        if (r as u32) < keep {
            i
        } else {
            alias as usize
        }
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// An affine bijection on `0..36^width`, so ids look random but never repeat.
#[derive(Clone, Copy)]
struct Scramble {
    mul: u64,
    add: u64,
    modulus: u64,
}

impl Scramble {
    fn new(seed: u64, width: u32) -> Scramble {
        let modulus = 36u64.pow(width);
        let mut mul = (splitmix64(seed) % modulus) | 1;
        while mul.is_multiple_of(3) {
            mul = (mul + 2) % modulus;
        }
        Scramble {
            mul,
            add: splitmix64(seed ^ 0xABCD) % modulus,
            modulus,
        }
    }
    fn apply(&self, n: u64) -> u64 {
        ((n % self.modulus) as u128 * self.mul as u128 + self.add as u128) as u64 % self.modulus
    }
}

fn push_base36(out: &mut Vec<u8>, mut v: u64, width: usize) {
    const D: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut tmp = [0u8; 16];
    for i in (0..width).rev() {
        tmp[i] = D[(v % 36) as usize];
        v /= 36;
    }
    out.extend_from_slice(&tmp[..width]);
}

fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

fn push_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    push_u64(out, v.unsigned_abs());
}

/// Appends `s` as the inside of a JSON string. With `ascii`, non-ASCII characters are written
/// as `\uXXXX` escapes (surrogate pairs above U+FFFF), like Python's `json.dumps`.
fn push_json_str(out: &mut Vec<u8>, s: &str, ascii: bool) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    let high = if ascii { HI } else { 0 };
    let bytes = s.as_bytes();
    let needs = |b: u8| b < 0x20 || b == b'"' || b == b'\\' || (ascii && b >= 0x80);
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Skip 8 clean bytes at a time (SWAR: control bytes, '"', '\\', and high bytes if ascii).
        while let Some(chunk) = bytes.get(i..i + 8) {
            let x = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            let hit = (x.wrapping_sub(LO * 0x20) & !x & HI)
                | has_zero(x ^ (LO * u64::from(b'"')))
                | has_zero(x ^ (LO * u64::from(b'\\')))
                | (x & high);
            if hit != 0 {
                break;
            }
            i += 8;
        }
        let Some(&b) = bytes.get(i) else {
            break;
        };
        if !needs(b) {
            i += 1;
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1F => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 15) as usize]);
            }
            _ => {
                let ch = s[i..].chars().next().expect("char boundary");
                let mut units = [0u16; 2];
                for u in ch.encode_utf16(&mut units) {
                    out.extend_from_slice(b"\\u");
                    for shift in [12, 8, 4, 0] {
                        out.push(HEX[((*u >> shift) & 15) as usize]);
                    }
                }
                i += ch.len_utf8() - 1;
            }
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// (year, month, day) of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// RFC 3339 UTC, second precision ("2021-01-04T00:00:00Z"), with a one-entry cache.
struct TsCache {
    secs: i64,
    buf: [u8; 20],
}

impl TsCache {
    fn new() -> TsCache {
        TsCache {
            secs: i64::MIN,
            buf: [0; 20],
        }
    }
    fn push(&mut self, out: &mut Vec<u8>, ms: i64) {
        let secs = ms.div_euclid(1000);
        if secs != self.secs {
            self.secs = secs;
            let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
            let sod = secs.rem_euclid(86_400);
            let y = y.clamp(0, 9999) as u32;
            let fields = [
                (0, y / 100),
                (2, y % 100),
                (5, mo),
                (8, d),
                (11, (sod / 3600) as u32),
                (14, (sod / 60 % 60) as u32),
                (17, (sod % 60) as u32),
            ];
            self.buf = *b"0000-00-00T00:00:00Z";
            for (at, v) in fields {
                self.buf[at] = b'0' + (v / 10) as u8;
                self.buf[at + 1] = b'0' + (v % 10) as u8;
            }
        }
        out.extend_from_slice(&self.buf);
    }
}

#[cfg(test)]
fn format_ts(ms: i64) -> String {
    let mut v = Vec::new();
    TsCache::new().push(&mut v, ms);
    String::from_utf8(v).expect("ascii")
}

/// How many extra records one insert triggers for an expected rate `f`.
fn extras(rng: &mut ChaCha8Rng, f: f64) -> u32 {
    if f <= 0.0 {
        return 0;
    }
    let whole = f.floor();
    whole as u32 + u32::from(rng.gen::<f64>() < f - whole)
}

fn sanitize(cfg: &GenConfig) -> GenConfig {
    let frac = |f: f64| {
        if f.is_finite() && f > 0.0 {
            f.min(100.0)
        } else {
            0.0
        }
    };
    GenConfig {
        comments_per_minute: if cfg.comments_per_minute.is_finite() && cfg.comments_per_minute > 0.0
        {
            cfg.comments_per_minute
        } else {
            60.0
        },
        edit_fraction: frac(cfg.edit_fraction),
        delete_fraction: frac(cfg.delete_fraction),
        late_fraction: frac(cfg.late_fraction).min(1.0),
        malformed_fraction: frac(cfg.malformed_fraction),
        ..cfg.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Default)]
struct Mentions {
    n: u8,
    e: [u32; 3],
}

impl Mentions {
    fn as_slice(&self) -> &[u32] {
        &self.e[..self.n as usize]
    }
    fn contains(&self, x: u32) -> bool {
        self.as_slice().contains(&x)
    }
    fn push(&mut self, x: u32) {
        if (self.n as usize) < self.e.len() {
            self.e[self.n as usize] = x;
            self.n += 1;
        }
    }
    fn remove(&mut self, i: usize) {
        let n = self.n as usize;
        self.e.copy_within(i + 1..n, i);
        self.n -= 1;
    }
}

#[derive(Clone, Copy)]
enum Parent {
    None,
    Thread(u64),
    Comment(u64),
}

/// A comment's metadata (its text lives in `CommentStream::text`).
#[derive(Clone, Copy)]
struct Rec {
    id: u64,
    chan: u8,
    thread: Option<u64>,
    parent: Parent,
    author: u32,
    created_ms: i64,
    edited_ms: Option<i64>,
    score: Option<i32>,
}

/// A remembered comment that may be edited or deleted later.
#[derive(Clone, Copy)]
struct Recent {
    rec: Rec,
    arrival_ms: i64,
    mentions: Mentions,
}

#[derive(Clone, Copy, PartialEq)]
enum IdMode {
    Normal,
    Missing,
    Empty,
    TooLong,
}

#[derive(Clone, Copy, PartialEq)]
enum TextMode {
    Normal,
    Missing,
    Number,
    InvalidUtf8(usize),
}

/// How to write one record: the defaults give a valid comment.
#[derive(Clone, Copy)]
struct Shape {
    ascii: bool,
    omit_nulls: bool,
    flair: Option<&'static str>,
    id: IdMode,
    text: TextMode,
    created_raw: Option<&'static str>,
}

const VALID: Shape = Shape {
    ascii: false,
    omit_nulls: false,
    flair: None,
    id: IdMode::Normal,
    text: TextMode::Normal,
    created_raw: None,
};

const INVALID_UTF8: &[&[u8]] = &[
    &[0xFF, 0xFE],
    &[0xC0, 0xAF],
    &[0xED, 0xA0, 0x80],
    &[0x80],
    &[0xF0, 0x9F],
];
const BAD_TIMESTAMPS: &[&str] = &[
    "\"not a timestamp\"",
    "\"2021-13-45T25:61:61Z\"",
    "\"yesterday\"",
    "\"\"",
    "true",
    "{\"seconds\":1611842591}",
];
const NOT_OBJECTS: &[&[u8]] = &[
    b"[1,2]",
    b"\"just a string\"",
    b"42",
    b"null",
    b"[{\"id\":\"t1_x\",\"text\":\"hi\",\"created_at\":\"2021-01-28T14:03:11Z\"}]",
    b"true",
];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Malformed {
    Truncated,
    NotObject,
    MissingId,
    EmptyId,
    IdTooLong,
    MissingText,
    BadTimestamp,
    Year1970,
    TextNumber,
    InvalidUtf8,
    Oversize,
}

const MALFORMED_ROTATION: &[Malformed] = &[
    Malformed::Truncated,
    Malformed::NotObject,
    Malformed::MissingId,
    Malformed::EmptyId,
    Malformed::MissingText,
    Malformed::BadTimestamp,
    Malformed::Year1970,
    Malformed::TextNumber,
    Malformed::InvalidUtf8,
    Malformed::IdTooLong,
    Malformed::Oversize,
];

#[derive(Clone, Copy)]
enum Extra {
    Edit,
    Delete,
    Malformed,
}

struct BurstPlan {
    entity: u32,
    window_start_ms: i64,
    /// First and last second (as ms) of the injected comments.
    from_ms: i64,
    to_ms: i64,
    chan: u8,
}

#[derive(Clone, Copy)]
struct ThreadSlot {
    id: u64,
    last_comment: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// The stream
// ---------------------------------------------------------------------------------------------

/// Streams comment lines (each WITHOUT trailing newline; malformed lines may be arbitrary bytes
/// incl. invalid UTF-8, never a `\n`) in arrival order; call `summary()` after exhausting it.
pub struct CommentStream {
    cfg: GenConfig,
    rng: ChaCha8Rng,
    ents: Vec<Entity>,
    ent_zipf: Option<Zipf>,
    /// ln((authors + q) / q), see `sample_author`.
    author_log_n: f64,
    authors: usize,
    author_mix: u64,
    chan_cdf: Vec<u32>,
    is_burst_entity: Vec<bool>,
    plans: Vec<BurstPlan>,
    next_plan: usize,
    /// Pending burst comments: (created_at ms, plan index), in time order.
    active: VecDeque<(i64, usize)>,
    /// Mentions of burst entities by (entity, window start), from non-late inserts.
    burst_counts: BTreeMap<(u32, i64), u64>,
    /// Arrival time of the next background comment (ms, fractional).
    t_next: f64,
    mean_gap_ms: f64,
    /// The stream's current time: the newest created_at emitted so far.
    now_ms: i64,
    inserted: u64,
    next_comment: u64,
    comment_ids: Scramble,
    next_thread: u64,
    thread_ids: Scramble,
    threads: Vec<[ThreadSlot; THREAD_SLOTS]>,
    recent: VecDeque<Recent>,
    pending: VecDeque<Extra>,
    malformed_turn: usize,
    oversize_done: bool,
    summary: GenSummary,
    text: String,
    ts: TsCache,
    done: bool,
}

impl CommentStream {
    /// A stream for `cfg` (cloned). Cheap: the catalog and burst plan are built here, the
    /// lines lazily; memory stays bounded (a few MB) however many comments are asked for.
    pub fn new(cfg: &GenConfig) -> CommentStream {
        let cfg = sanitize(cfg);
        let ents = build_catalog(cfg.seed, cfg.entities);
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        rng.set_stream(2);
        let ent_zipf = (!ents.is_empty()).then(|| Zipf::new(ents.len(), ENTITY_ZIPF_S));
        let authors = (cfg.comments / 5).clamp(10, 1_000_000) as usize;
        let mut acc = 0;
        let chan_cdf = CHANNELS
            .iter()
            .map(|c| {
                acc += c.2;
                acc
            })
            .collect();
        let comment_ids = Scramble::new(cfg.seed ^ 0x1111, 7);
        let thread_ids = Scramble::new(cfg.seed ^ 0x2222, 6);
        let mut next_thread = 0;
        let threads = CHANNELS
            .iter()
            .map(|_| {
                std::array::from_fn(|_| {
                    next_thread += 1;
                    ThreadSlot {
                        id: thread_ids.apply(next_thread - 1),
                        last_comment: None,
                    }
                })
            })
            .collect();
        let start_ms = cfg.start_ms.div_euclid(1000) * 1000;
        let mut s = CommentStream {
            rng,
            ent_zipf,
            author_log_n: ((authors as f64 + AUTHOR_Q) / AUTHOR_Q).ln(),
            authors,
            author_mix: splitmix64(cfg.seed ^ 0x3333),
            chan_cdf,
            is_burst_entity: vec![false; ents.len()],
            ents,
            plans: Vec::new(),
            next_plan: 0,
            active: VecDeque::new(),
            burst_counts: BTreeMap::new(),
            t_next: start_ms as f64,
            mean_gap_ms: 60_000.0 / cfg.comments_per_minute,
            now_ms: start_ms,
            inserted: 0,
            next_comment: 0,
            comment_ids,
            next_thread,
            thread_ids,
            threads,
            recent: VecDeque::new(),
            pending: VecDeque::new(),
            malformed_turn: 0,
            oversize_done: false,
            summary: GenSummary::default(),
            text: String::with_capacity(512),
            ts: TsCache::new(),
            done: false,
            cfg,
        };
        s.plan_bursts();
        s
    }

    /// The summary of what was generated so far (complete once the iterator is exhausted).
    pub fn summary(&self) -> &GenSummary {
        &self.summary
    }

    /// Writes the next line into `out` (cleared first); false at the end.
    pub fn next_into(&mut self, out: &mut Vec<u8>) -> bool {
        out.clear();
        if self.done {
            return false;
        }
        while let Some(x) = self.pending.pop_front() {
            if self.emit_extra(x, out) {
                return true;
            }
            out.clear();
        }
        if self.inserted >= self.cfg.comments {
            self.done = true;
            return false;
        }
        let t_norm = (self.t_next as i64).div_euclid(1000) * 1000;
        let next_event = self.active.front().map_or(t_norm, |&(t, _)| t.min(t_norm));
        while self.next_plan < self.plans.len() && self.plans[self.next_plan].from_ms <= next_event
        {
            self.next_plan += 1;
            self.activate(self.next_plan - 1);
        }
        let remaining = self.cfg.comments - self.inserted;
        let burst_next = match self.active.front() {
            Some(&(t, _)) => remaining <= self.active.len() as u64 || t < t_norm,
            None => false,
        };
        if burst_next {
            let (t, p) = self.active.pop_front().expect("non-empty");
            self.emit_burst_comment(t, p, out);
        } else {
            self.emit_background(t_norm, out);
        }
        for (kind, f) in [
            (Extra::Edit, self.cfg.edit_fraction),
            (Extra::Delete, self.cfg.delete_fraction),
            (Extra::Malformed, self.cfg.malformed_fraction),
        ] {
            for _ in 0..extras(&mut self.rng, f) {
                self.pending.push_back(kind);
            }
        }
        true
    }

    // ---- bursts -------------------------------------------------------------------------

    fn plan_bursts(&mut self) {
        let n = self.ents.len();
        let Some(zipf) = self.ent_zipf.as_ref() else {
            return;
        };
        if self.cfg.bursts == 0 || n < 2 {
            return;
        }
        let cpm = self.cfg.comments_per_minute;
        let per_window = MEAN_MENTIONS * cpm * (WINDOW_MS as f64 / 60_000.0);
        let rate = |r: usize| zipf.pmf(r) * per_window;
        let mut candidates: Vec<usize> = (1..n).filter(|&r| rate(r) <= 2.0).collect();
        if candidates.len() < self.cfg.bursts {
            let tail = (n / 5).max(self.cfg.bursts).min(n - 1);
            candidates = (n - tail..n).collect();
        }
        let k = self.cfg.bursts.min(candidates.len());
        let picked: Vec<usize> = sample_indices(&mut self.rng, candidates.len(), k)
            .into_iter()
            .map(|i| candidates[i])
            .collect();
        // Expected duration of the background stream; bursts end 2 minutes before it.
        let est_injected: f64 = picked
            .iter()
            .map(|&r| required_mentions(rate(r), rate(r).sqrt()) as f64 * 1.25 + 5.0)
            .map(|x| x.max(MIN_BURST_MENTIONS as f64))
            .sum();
        let background = (self.cfg.comments as f64 - est_injected).max(0.0);
        let duration_ms = background / cpm * 60_000.0;
        let start = self.t_next as i64;
        let first_ws = (start + BURST_WARMUP_MS).div_euclid(WINDOW_MS) * WINDOW_MS + WINDOW_MS;
        let last_end = start + duration_ms as i64 - 120_000;
        let last_ws = last_end.div_euclid(WINDOW_MS) * WINDOW_MS - WINDOW_MS;
        if last_ws < first_ws {
            return;
        }
        let slots = ((last_ws - first_ws) / WINDOW_MS + 1) as usize;
        let k = k.min(slots);
        let mut windows: Vec<usize> = sample_indices(&mut self.rng, slots, k).into_vec();
        windows.sort_unstable();
        for (w, &r) in windows.into_iter().zip(&picked) {
            let ws = first_ws + w as i64 * WINDOW_MS;
            let from_s = ws / 1000 + self.rng.gen_range(0..=120);
            let to_s = (from_s + self.rng.gen_range(45..=150)).min(ws / 1000 + 299);
            let chan = self.pick_channel();
            self.is_burst_entity[r] = true;
            self.plans.push(BurstPlan {
                entity: r as u32,
                window_start_ms: ws,
                from_ms: from_s * 1000,
                to_ms: to_s * 1000,
                chan,
            });
        }
    }

    /// Called when everything before the plan's first comment has been emitted: the 12
    /// baseline windows are final (burst entities never appear in late or edited comments).
    fn activate(&mut self, p: usize) {
        let plan = &self.plans[p];
        let e = plan.entity;
        let ws = plan.window_start_ms;
        let counts: Vec<f64> = (1..=BASELINE_WINDOWS)
            .map(|k| {
                *self
                    .burst_counts
                    .get(&(e, ws - k * WINDOW_MS))
                    .unwrap_or(&0) as f64
            })
            .collect();
        let mean = counts.iter().sum::<f64>() / counts.len() as f64;
        let var = counts.iter().map(|c| (c - mean) * (c - mean)).sum::<f64>() / counts.len() as f64;
        let need = required_mentions(mean, var.sqrt());
        let already = *self.burst_counts.get(&(e, ws)).unwrap_or(&0);
        let target = (need as f64 * 1.25).ceil() as u64 + 5;
        let inject = target.saturating_sub(already).max(MIN_BURST_MENTIONS);
        // Keep only the windows later bursts can still need (bounded memory).
        match self.plans.get(self.next_plan) {
            Some(next) => {
                let keep_from = next.window_start_ms - BASELINE_WINDOWS * WINDOW_MS;
                self.burst_counts.retain(|&(_, w), _| w >= keep_from);
            }
            None => self.burst_counts.clear(),
        }
        let free = self.cfg.comments - self.inserted - self.active.len() as u64;
        if inject > free {
            return;
        }
        let (from_s, to_s) = (plan.from_ms / 1000, plan.to_ms / 1000);
        let mut times: Vec<i64> = (0..inject)
            .map(|_| self.rng.gen_range(from_s..=to_s) * 1000)
            .collect();
        times.sort_unstable();
        self.active.extend(times.into_iter().map(|t| (t, p)));
        self.summary.bursts.push(Burst {
            entity_id: self.ents[e as usize].id.clone(),
            window_start_ms: ws,
            mentions: inject,
        });
    }

    // ---- inserts ------------------------------------------------------------------------

    /// Author rank k with P(k) = ln((k+q+1)/(k+q)) / ln((n+q)/q), q = 10: a Zipf–Mandelbrot
    /// law (s ≈ 1, flattened head: the top author writes ~2%), sampled in O(1) by inversion
    /// (a table lookup per comment over ~10^5 authors would be a cache miss).
    fn sample_author(&mut self) -> u32 {
        let u: f64 = self.rng.gen();
        let k = AUTHOR_Q * (u * self.author_log_n).exp() - AUTHOR_Q;
        (k.max(0.0) as usize).min(self.authors - 1) as u32
    }

    fn pick_channel(&mut self) -> u8 {
        let total = *self.chan_cdf.last().expect("channels");
        let r = self.rng.gen_range(0..total);
        self.chan_cdf.partition_point(|&c| c <= r) as u8
    }

    /// A fresh comment; `link` = it becomes the latest comment of its thread (not for malformed).
    fn new_rec(&mut self, chan: u8, created_ms: i64, link: bool) -> Rec {
        let id = self.comment_ids.apply(self.next_comment);
        self.next_comment += 1;
        let (thread, parent) = if CHANNELS[chan as usize].0 == "reddit" && self.rng.gen_bool(0.85) {
            let slots = &mut self.threads[chan as usize];
            let i = self.rng.gen_range(0..THREAD_SLOTS);
            if self.rng.gen_bool(0.02) {
                slots[i] = ThreadSlot {
                    id: self.thread_ids.apply(self.next_thread),
                    last_comment: None,
                };
                self.next_thread += 1;
            }
            let slot = &mut slots[i];
            let parent = match slot.last_comment {
                Some(c) if self.rng.gen_bool(0.55) => Parent::Comment(c),
                _ => Parent::Thread(slot.id),
            };
            if link {
                slot.last_comment = Some(id);
            }
            (Some(slot.id), parent)
        } else {
            (None, Parent::None)
        };
        let score = if self.rng.gen_bool(0.1) {
            None
        } else {
            let u: f64 = self.rng.gen();
            let s = (-(1.0 - u).ln() * 8.0) as i32;
            Some(if self.rng.gen_bool(0.07) {
                -s / 3
            } else {
                s + 1
            })
        };
        Rec {
            id,
            chan,
            thread,
            parent,
            author: self.sample_author(),
            created_ms,
            edited_ms: None,
            score,
        }
    }

    fn random_shape(&mut self) -> Shape {
        let r = self.rng.gen_range(0..100u32);
        Shape {
            ascii: r < 5,
            omit_nulls: (5..8).contains(&r),
            flair: if (8..12).contains(&r) {
                Some(FLAIRS[self.rng.gen_range(0..FLAIRS.len())])
            } else {
                None
            },
            ..VALID
        }
    }

    fn emit_background(&mut self, t_ms: i64, out: &mut Vec<u8>) {
        let u: f64 = self.rng.gen();
        self.t_next += -(1.0 - u).ln() * self.mean_gap_ms;
        let first = self.summary.first_created_at_ms;
        let elapsed_s = (self.now_ms - first) / 1000;
        let late =
            self.inserted > 0 && elapsed_s >= 600 && self.rng.gen_bool(self.cfg.late_fraction);
        let created_ms = if late {
            let delay = self.rng.gen_range(600..=elapsed_s.min(3600));
            self.now_ms - delay * 1000
        } else {
            t_ms
        };
        let foreign = self.rng.gen_bool(0.03);
        let mut m = Mentions::default();
        self.sample_mentions(&mut m, late, if foreign { 1 } else { 3 });
        let chan = self.pick_channel();
        let rec = self.new_rec(chan, created_ms, true);
        let mut text = std::mem::take(&mut self.text);
        if foreign {
            self.compose_foreign(&mut text, &m);
        } else {
            self.compose(&mut text, &m, None);
        }
        let shape = self.random_shape();
        self.write_comment(out, &rec, &text, &shape);
        self.text = text;
        self.count_insert(created_ms, late, &m);
        if !m
            .as_slice()
            .iter()
            .any(|&e| self.is_burst_entity[e as usize])
        {
            self.remember(rec, m);
        }
    }

    fn emit_burst_comment(&mut self, t_ms: i64, p: usize, out: &mut Vec<u8>) {
        let plan = &self.plans[p];
        let (entity, plan_chan) = (plan.entity, plan.chan);
        let mut m = Mentions::default();
        m.push(entity);
        if self.rng.gen_bool(0.3) {
            let mut other = Mentions::default();
            self.sample_mentions(&mut other, true, 1);
            if let Some(&o) = other.as_slice().first() {
                if o != entity {
                    m.push(o);
                }
            }
        }
        let chan = if self.rng.gen_bool(0.8) {
            plan_chan
        } else {
            self.pick_channel()
        };
        let rec = self.new_rec(chan, t_ms, true);
        let mut text = std::mem::take(&mut self.text);
        self.compose(&mut text, &m, Some(entity));
        let shape = self.random_shape();
        self.write_comment(out, &rec, &text, &shape);
        self.text = text;
        self.count_insert(t_ms, false, &m);
    }

    fn count_insert(&mut self, created_ms: i64, late: bool, m: &Mentions) {
        if self.inserted == 0 {
            self.summary.first_created_at_ms = created_ms;
            self.summary.last_created_at_ms = created_ms;
        }
        self.inserted += 1;
        self.summary.comments += 1;
        self.summary.first_created_at_ms = self.summary.first_created_at_ms.min(created_ms);
        self.summary.last_created_at_ms = self.summary.last_created_at_ms.max(created_ms);
        if late {
            self.summary.late += 1;
        } else {
            self.now_ms = self.now_ms.max(created_ms);
            let ws = created_ms.div_euclid(WINDOW_MS) * WINDOW_MS;
            // Only windows that the next burst's baseline (or a later one's) can need.
            let Some(plan) = self.plans.get(self.next_plan) else {
                return;
            };
            if ws < plan.window_start_ms - BASELINE_WINDOWS * WINDOW_MS {
                return;
            }
            for &e in m.as_slice() {
                if self.is_burst_entity[e as usize] {
                    *self.burst_counts.entry((e, ws)).or_insert(0) += 1;
                }
            }
        }
    }

    fn remember(&mut self, rec: Rec, mentions: Mentions) {
        self.recent.push_back(Recent {
            rec,
            arrival_ms: self.now_ms,
            mentions,
        });
        if self.recent.len() > RING_CAP {
            self.recent.pop_front();
        }
    }

    /// 0-3 distinct entities (Zipf); `exclude_burst` keeps burst entities out.
    fn sample_mentions(&mut self, out: &mut Mentions, exclude_burst: bool, max: usize) {
        let Some(zipf) = self.ent_zipf.as_ref() else {
            return;
        };
        let k = match self.rng.gen_range(0..100u32) {
            0..=19 => 0,
            20..=69 => 1,
            70..=89 => 2,
            _ => 3,
        }
        .min(max);
        for _ in 0..k {
            for _ in 0..8 {
                let e = zipf.sample(&mut self.rng) as u32;
                if out.contains(e) || (exclude_burst && self.is_burst_entity[e as usize]) {
                    continue;
                }
                out.push(e);
                break;
            }
        }
    }

    // ---- text ---------------------------------------------------------------------------

    fn push_sep(&mut self, text: &mut String) {
        if text.is_empty() {
            return;
        }
        match self.rng.gen_range(0..100u32) {
            0..=84 => text.push(' '),
            85..=94 => text.push('\n'),
            _ => text.push_str(" \n\n"),
        }
    }

    fn push_filler(&mut self, text: &mut String) {
        self.push_sep(text);
        text.push_str(FILLERS[self.rng.gen_range(0..FILLERS.len())]);
    }

    fn push_mention(&mut self, text: &mut String, e: u32, canonical: bool) {
        let e = &self.ents[e as usize];
        let r = self.rng.gen_range(0..100u32);
        if canonical {
            if r < 60 {
                text.push('$');
            }
            text.push_str(&e.id);
            return;
        }
        match r {
            0..=34 => {
                text.push('$');
                text.push_str(&e.id);
            }
            35..=59 => text.push_str(&e.id),
            60..=71 => text.push_str(&e.alias),
            72..=79 => text.push_str(&e.alias_lower),
            80..=82 => text.push_str(&e.alias_upper),
            83..=89 => {
                text.push_str(&e.first);
                text.push_str(if r < 87 { "  " } else { "\n" });
                text.push_str(e.second);
            }
            90..=94 if e.one_word => {
                text.push_str(if r < 92 { &e.first } else { &e.first_lower });
            }
            90..=94 => {
                text.push('$');
                text.push_str(&e.id);
            }
            95..=97 => {
                text.push('$');
                text.push_str(&e.id_lower);
            }
            98 => {
                text.push('$');
                text.push_str(&e.id[..1]);
                text.push_str(&e.id_lower[1..]);
            }
            _ => {
                text.push('$');
                text.push_str(&e.id_fullwidth);
            }
        }
    }

    /// An English comment mentioning `m`; `burst` = the burst entity (first in `m`), which
    /// gets a hype template and a canonical `$ID` / `ID` form.
    fn compose(&mut self, text: &mut String, m: &Mentions, burst: Option<u32>) {
        text.clear();
        let r = self.rng.gen_range(0..1000u32);
        if m.n == 0 && r < 3 {
            return; // an empty text is valid
        }
        let target = if r < 30 {
            0 // a short comment: just the mention(s) or one filler
        } else {
            let u: f64 = self.rng.gen();
            40 + ((-(1.0 - u).ln() * 70.0) as usize).min(240)
        };
        if burst.is_none() && self.rng.gen_bool(0.25) {
            self.push_filler(text);
        }
        for &e in m.as_slice() {
            self.push_sep(text);
            let is_burst = burst == Some(e);
            let (pre, post) = if is_burst {
                BURST_TEMPLATES[self.rng.gen_range(0..BURST_TEMPLATES.len())]
            } else {
                MENTION_TEMPLATES[self.rng.gen_range(0..MENTION_TEMPLATES.len())]
            };
            text.push_str(pre);
            self.push_mention(text, e, is_burst);
            text.push_str(post);
            if self.rng.gen_bool(0.08) {
                // The same entity again in another form: still one mention.
                text.push_str(" (");
                self.push_mention(text, e, false);
                text.push(')');
            }
            if self.rng.gen_bool(0.3) {
                self.push_filler(text);
            }
        }
        if text.is_empty() {
            self.push_filler(text);
        }
        while text.len() < target {
            self.push_filler(text);
        }
    }

    fn compose_foreign(&mut self, text: &mut String, m: &Mentions) {
        text.clear();
        let lang = FOREIGN[self.rng.gen_range(0..FOREIGN.len())];
        let mention_first = self.rng.gen_bool(0.5);
        if let (Some(&e), true) = (m.as_slice().first(), mention_first) {
            text.push('$');
            text.push_str(&self.ents[e as usize].id);
            text.push(' ');
        }
        let n = self.rng.gen_range(1..=3);
        for i in 0..n {
            if i > 0 {
                text.push(' ');
            }
            text.push_str(lang[self.rng.gen_range(0..lang.len())]);
        }
        if let (Some(&e), false) = (m.as_slice().first(), mention_first) {
            text.push_str(" $");
            text.push_str(&self.ents[e as usize].id);
        }
    }

    // ---- writing ------------------------------------------------------------------------

    fn push_author(&self, out: &mut Vec<u8>, idx: u32) {
        let h = splitmix64(self.author_mix ^ u64::from(idx));
        let adj = AUTHOR_ADJ[(h % AUTHOR_ADJ.len() as u64) as usize].as_bytes();
        let noun = AUTHOR_NOUN[((h >> 16) % AUTHOR_NOUN.len() as u64) as usize].as_bytes();
        match (h >> 40) % 4 {
            0 => {
                out.extend_from_slice(adj);
                out.push(b'_');
                out.extend_from_slice(noun);
            }
            1 => {
                out.push(adj[0].to_ascii_uppercase());
                out.extend_from_slice(&adj[1..]);
                out.push(noun[0].to_ascii_uppercase());
                out.extend_from_slice(&noun[1..]);
            }
            2 => {
                out.extend_from_slice(noun);
                out.push(b'-');
                out.extend_from_slice(adj);
                out.push(b'-');
            }
            _ => {
                out.extend_from_slice(adj);
                out.extend_from_slice(noun);
            }
        }
        push_u64(out, u64::from(idx));
    }

    fn push_comment_id(out: &mut Vec<u8>, chan: u8, id: u64) {
        match CHANNELS[chan as usize].0 {
            "reddit" => {
                out.extend_from_slice(b"t1_");
                push_base36(out, id, 7);
            }
            "stocktwits" => {
                out.extend_from_slice(b"st_");
                push_u64(out, 300_000_000 + id);
            }
            _ => push_u64(out, 1_350_000_000_000_000_000 + id),
        }
    }

    fn write_comment(&mut self, out: &mut Vec<u8>, rec: &Rec, text: &str, shape: &Shape) {
        out.push(b'{');
        match shape.id {
            IdMode::Normal => {
                out.extend_from_slice(b"\"id\":\"");
                Self::push_comment_id(out, rec.chan, rec.id);
                out.extend_from_slice(b"\",");
            }
            IdMode::Missing => {}
            IdMode::Empty => out.extend_from_slice(b"\"id\":\"\","),
            IdMode::TooLong => {
                out.extend_from_slice(b"\"id\":\"");
                Self::push_comment_id(out, rec.chan, rec.id);
                out.extend(std::iter::repeat_n(b'x', 300));
                out.extend_from_slice(b"\",");
            }
        }
        let (source, channel, _) = CHANNELS[rec.chan as usize];
        out.extend_from_slice(b"\"source\":\"");
        out.extend_from_slice(source.as_bytes());
        out.extend_from_slice(b"\",\"channel\":\"");
        out.extend_from_slice(channel.as_bytes());
        out.push(b'"');
        match rec.thread {
            Some(t) => {
                out.extend_from_slice(b",\"thread_id\":\"t3_");
                push_base36(out, t, 6);
                out.push(b'"');
            }
            None if !shape.omit_nulls => out.extend_from_slice(b",\"thread_id\":null"),
            None => {}
        }
        match rec.parent {
            Parent::Thread(t) => {
                out.extend_from_slice(b",\"parent_id\":\"t3_");
                push_base36(out, t, 6);
                out.push(b'"');
            }
            Parent::Comment(c) => {
                out.extend_from_slice(b",\"parent_id\":\"t1_");
                push_base36(out, c, 7);
                out.push(b'"');
            }
            Parent::None if !shape.omit_nulls => out.extend_from_slice(b",\"parent_id\":null"),
            Parent::None => {}
        }
        out.extend_from_slice(b",\"author\":\"");
        self.push_author(out, rec.author);
        out.push(b'"');
        match shape.text {
            TextMode::Normal => {
                out.extend_from_slice(b",\"text\":\"");
                push_json_str(out, text, shape.ascii);
                out.push(b'"');
            }
            TextMode::Missing => {}
            TextMode::Number => {
                out.extend_from_slice(b",\"text\":");
                push_u64(out, u64::from(rec.author) * 7 + 12_345);
            }
            TextMode::InvalidUtf8(k) => {
                let cut = text.char_indices().nth(12).map_or(text.len(), |(i, _)| i);
                out.extend_from_slice(b",\"text\":\"");
                push_json_str(out, &text[..cut], false);
                out.extend_from_slice(INVALID_UTF8[k % INVALID_UTF8.len()]);
                push_json_str(out, &text[cut..], false);
                out.push(b'"');
            }
        }
        out.extend_from_slice(b",\"created_at\":");
        match shape.created_raw {
            Some(raw) => out.extend_from_slice(raw.as_bytes()),
            None => {
                out.push(b'"');
                self.ts.push(out, rec.created_ms);
                out.push(b'"');
            }
        }
        match rec.edited_ms {
            Some(t) => {
                out.extend_from_slice(b",\"edited_at\":\"");
                self.ts.push(out, t);
                out.push(b'"');
            }
            None if !shape.omit_nulls => out.extend_from_slice(b",\"edited_at\":null"),
            None => {}
        }
        match rec.score {
            Some(s) => {
                out.extend_from_slice(b",\"score\":");
                push_i64(out, i64::from(s));
            }
            None if !shape.omit_nulls => out.extend_from_slice(b",\"score\":null"),
            None => {}
        }
        if let Some(f) = shape.flair {
            out.extend_from_slice(b",\"flair\":\"");
            out.extend_from_slice(f.as_bytes());
            out.push(b'"');
        }
        out.push(b'}');
    }

    // ---- edits, deletes, malformed ------------------------------------------------------

    /// Index of a random comment that arrived within the last 30 minutes of stream time.
    fn pick_recent(&mut self) -> Option<usize> {
        let horizon = self.now_ms - EDIT_LOOKBACK_MS;
        while self.recent.front().is_some_and(|r| r.arrival_ms < horizon) {
            self.recent.pop_front();
        }
        (!self.recent.is_empty()).then(|| self.rng.gen_range(0..self.recent.len()))
    }

    fn emit_extra(&mut self, x: Extra, out: &mut Vec<u8>) -> bool {
        match x {
            Extra::Edit => {
                let Some(i) = self.pick_recent() else {
                    return false;
                };
                let mut r = self.recent[i];
                match self.rng.gen_range(0..4u32) {
                    2 if r.mentions.n < 3 => {
                        let mut add = Mentions::default();
                        self.sample_mentions(&mut add, true, 1);
                        if let Some(&e) = add.as_slice().first() {
                            if !r.mentions.contains(e) {
                                r.mentions.push(e);
                            }
                        }
                    }
                    3 if r.mentions.n > 0 => {
                        let k = self.rng.gen_range(0..r.mentions.n as usize);
                        r.mentions.remove(k);
                    }
                    _ => {}
                }
                r.rec.edited_ms = Some(self.now_ms);
                if let Some(s) = r.rec.score.as_mut() {
                    *s += self.rng.gen_range(0..5);
                }
                let mut text = std::mem::take(&mut self.text);
                self.compose(&mut text, &r.mentions, None);
                let shape = self.random_shape();
                self.write_comment(out, &r.rec, &text, &shape);
                self.text = text;
                self.recent[i] = r;
                self.summary.edits += 1;
            }
            Extra::Delete => {
                let Some(i) = self.pick_recent() else {
                    return false;
                };
                let r = self.recent.remove(i).expect("index in range");
                out.extend_from_slice(b"{\"id\":\"");
                Self::push_comment_id(out, r.rec.chan, r.rec.id);
                out.extend_from_slice(b"\",\"deleted\":true");
                if self.rng.gen_bool(0.5) {
                    out.extend_from_slice(b",\"deleted_at\":\"");
                    self.ts.push(out, self.now_ms);
                    out.push(b'"');
                }
                out.push(b'}');
                self.summary.deletes += 1;
            }
            Extra::Malformed => {
                self.emit_malformed(out);
                self.summary.malformed += 1;
            }
        }
        true
    }

    fn emit_malformed(&mut self, out: &mut Vec<u8>) {
        let kind = loop {
            let k = MALFORMED_ROTATION[self.malformed_turn % MALFORMED_ROTATION.len()];
            self.malformed_turn += 1;
            if k != Malformed::Oversize {
                break k;
            }
            if self.cfg.comments >= 100_000 && !self.oversize_done {
                self.oversize_done = true;
                break k;
            }
        };
        let turn = self.malformed_turn / MALFORMED_ROTATION.len();
        if kind == Malformed::NotObject {
            out.extend_from_slice(NOT_OBJECTS[turn % NOT_OBJECTS.len()]);
            return;
        }
        let chan = self.pick_channel();
        let mut rec = self.new_rec(chan, self.now_ms, false);
        let mut m = Mentions::default();
        self.sample_mentions(&mut m, true, 3);
        let mut text = std::mem::take(&mut self.text);
        self.compose(&mut text, &m, None);
        let mut shape = VALID;
        match kind {
            Malformed::MissingId => shape.id = IdMode::Missing,
            Malformed::EmptyId => shape.id = IdMode::Empty,
            Malformed::IdTooLong => shape.id = IdMode::TooLong,
            Malformed::MissingText => shape.text = TextMode::Missing,
            Malformed::TextNumber => shape.text = TextMode::Number,
            Malformed::InvalidUtf8 => shape.text = TextMode::InvalidUtf8(turn),
            Malformed::BadTimestamp => {
                shape.created_raw = Some(BAD_TIMESTAMPS[turn % BAD_TIMESTAMPS.len()]);
            }
            Malformed::Year1970 => rec.created_ms = self.rng.gen_range(0..365 * 86_400) * 1000,
            Malformed::Oversize => {
                text.clear();
                while text.len() <= MAX_RECORD_BYTES + 64 * 1024 {
                    text.push_str("To the moon 🚀 buy the dip, diamond hands 💎🙌 ");
                }
            }
            Malformed::Truncated | Malformed::NotObject => {}
        }
        self.write_comment(out, &rec, &text, &shape);
        self.text = text;
        if kind == Malformed::Truncated {
            let mut cut = self.rng.gen_range(out.len() / 4..out.len() - 1).max(1);
            while out[cut] & 0xC0 == 0x80 {
                cut -= 1;
            }
            out.truncate(cut);
        }
    }
}

/// Smallest mention count that alerts under the default rule for this baseline.
fn required_mentions(mean: f64, std: f64) -> u64 {
    let by_z = mean + 3.0 * std.max(1.0);
    let by_ratio = 2.0 * (mean + 1.0) - 1.0;
    by_z.max(by_ratio).max(10.0).ceil() as u64
}

impl Iterator for CommentStream {
    type Item = Vec<u8>;
    fn next(&mut self) -> Option<Vec<u8>> {
        let mut v = Vec::with_capacity(768);
        self.next_into(&mut v).then_some(v)
    }
}

impl std::iter::FusedIterator for CommentStream {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::{BTreeSet, HashMap};

    fn collect(cfg: &GenConfig) -> (Vec<Vec<u8>>, GenSummary) {
        let mut s = CommentStream::new(cfg);
        let lines: Vec<Vec<u8>> = s.by_ref().collect();
        (lines, s.summary().clone())
    }

    // -- a reference reading of the input rules (SPEC §1.1) --------------------------------

    fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// Strict "YYYY-MM-DDTHH:MM:SSZ" (the only shape the generator writes for valid records).
    fn parse_ts(s: &str) -> Option<i64> {
        let b = s.as_bytes();
        if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
            return None;
        }
        if b[16] != b':' || b[19] != b'Z' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let t = &s[r];
            t.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| t.parse().ok())?
        };
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 59 {
            return None;
        }
        Some((days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se) * 1000)
    }

    const Y1990_MS: i64 = 631_152_000_000;
    const Y2100_MS: i64 = 4_102_444_800_000;

    enum Parsed {
        Comment {
            id: String,
            text: String,
            created_ms: i64,
            edited_ms: Option<i64>,
        },
        Delete {
            id: String,
            deleted_ms: Option<i64>,
        },
    }

    /// Ok = a valid record, Err = why it must be dead-lettered.
    fn classify(line: &[u8]) -> Result<Parsed, &'static str> {
        if line.len() > MAX_RECORD_BYTES {
            return Err("oversize");
        }
        let s = std::str::from_utf8(line).map_err(|_| "utf8")?;
        let v: Value = serde_json::from_str(s).map_err(|_| "json")?;
        let o = v.as_object().ok_or("not_object")?;
        let id = o.get("id").ok_or("missing_id")?.as_str().ok_or("id_type")?;
        if id.is_empty() {
            return Err("empty_id");
        }
        if id.len() > 256 {
            return Err("id_too_long");
        }
        if o.get("deleted") == Some(&Value::Bool(true)) {
            let deleted_ms = match o.get("deleted_at") {
                None => None,
                Some(t) => Some(parse_ts(t.as_str().ok_or("deleted_at")?).ok_or("deleted_at")?),
            };
            return Ok(Parsed::Delete {
                id: id.to_string(),
                deleted_ms,
            });
        }
        let text = o
            .get("text")
            .ok_or("missing_text")?
            .as_str()
            .ok_or("text_type")?;
        let created = o.get("created_at").ok_or("missing_created_at")?;
        let created_ms = match created {
            Value::String(t) => parse_ts(t).ok_or("bad_timestamp")?,
            Value::Number(n) => n.as_i64().ok_or("bad_timestamp")?,
            _ => return Err("bad_timestamp"),
        };
        if !(Y1990_MS..Y2100_MS).contains(&created_ms) {
            return Err("timestamp_range");
        }
        let edited_ms = match o.get("edited_at") {
            None | Some(Value::Null) => None,
            Some(t) => Some(parse_ts(t.as_str().ok_or("edited_at")?).ok_or("edited_at")?),
        };
        Ok(Parsed::Comment {
            id: id.to_string(),
            text: text.to_string(),
            created_ms,
            edited_ms,
        })
    }

    // -- a reference mention extractor (SPEC §2.1, NFKC limited to full-width ASCII) -------

    struct Matcher {
        ids: HashMap<String, usize>,
        ids_upper: HashMap<String, usize>,
        one: HashMap<String, usize>,
        two: HashMap<(String, String), usize>,
    }

    impl Matcher {
        fn new(lines: &[Vec<u8>]) -> (Matcher, Vec<String>) {
            let mut m = Matcher {
                ids: HashMap::new(),
                ids_upper: HashMap::new(),
                one: HashMap::new(),
                two: HashMap::new(),
            };
            let mut names = Vec::new();
            for (i, l) in lines.iter().enumerate() {
                let v: Value = serde_json::from_slice(l).unwrap();
                let id = v["id"].as_str().unwrap().to_string();
                for s in v["symbols"].as_array().unwrap() {
                    let s = s.as_str().unwrap();
                    assert!(m.ids.insert(s.to_string(), i).is_none());
                    m.ids_upper.insert(s.to_uppercase(), i);
                }
                for a in v["aliases"].as_array().unwrap() {
                    let words: Vec<String> = a
                        .as_str()
                        .unwrap()
                        .split_whitespace()
                        .map(str::to_lowercase)
                        .collect();
                    match words.len() {
                        1 => assert!(m.one.insert(words[0].clone(), i).is_none()),
                        2 => assert!(m
                            .two
                            .insert((words[0].clone(), words[1].clone()), i)
                            .is_none()),
                        _ => panic!("unexpected alias {a}"),
                    }
                }
                names.push(id);
            }
            (m, names)
        }

        fn mentions(&self, text: &str) -> BTreeSet<usize> {
            let norm: String = text
                .chars()
                .map(|c| match c as u32 {
                    0xFF01..=0xFF5E => char::from_u32(c as u32 - 0xFEE0).unwrap(),
                    _ => c,
                })
                .collect();
            // Tokens: (start, end) of alphanumeric runs.
            let mut toks: Vec<(usize, usize)> = Vec::new();
            let mut start = None;
            for (i, c) in norm.char_indices() {
                match (c.is_alphanumeric(), start) {
                    (true, None) => start = Some(i),
                    (false, Some(s)) => {
                        toks.push((s, i));
                        start = None;
                    }
                    _ => {}
                }
            }
            if let Some(s) = start {
                toks.push((s, norm.len()));
            }
            let mut out = BTreeSet::new();
            for (k, &(s, e)) in toks.iter().enumerate() {
                let tok = &norm[s..e];
                if s > 0 && norm.as_bytes()[s - 1] == b'$' {
                    if let Some(&i) = self.ids_upper.get(&tok.to_uppercase()) {
                        out.insert(i);
                    }
                }
                if tok.chars().count() > 1 {
                    if let Some(&i) = self.ids.get(tok) {
                        out.insert(i);
                    }
                }
                let low = tok.to_lowercase();
                if let Some(&i) = self.one.get(&low) {
                    out.insert(i);
                }
                if let Some(&(s2, e2)) = toks.get(k + 1) {
                    let gap = &norm[e..s2];
                    if !gap.is_empty() && gap.chars().all(char::is_whitespace) {
                        let key = (low.clone(), norm[s2..e2].to_lowercase());
                        if let Some(&i) = self.two.get(&key) {
                            out.insert(i);
                        }
                    }
                }
            }
            out
        }
    }

    fn velocity(counts: &HashMap<(usize, i64), u64>, e: usize, ws: i64) -> (u64, f64, f64) {
        let m = *counts.get(&(e, ws)).unwrap_or(&0);
        let base: Vec<f64> = (1..=12)
            .map(|k| *counts.get(&(e, ws - k * WINDOW_MS)).unwrap_or(&0) as f64)
            .collect();
        let mean = base.iter().sum::<f64>() / 12.0;
        let std = (base.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / 12.0).sqrt();
        let z = (m as f64 - mean) / std.max(1.0);
        let ratio = (m as f64 + 1.0) / (mean + 1.0);
        (m, z, ratio)
    }

    /// Checks everything about one generated stream; returns the malformed reasons seen.
    fn check_stream(cfg: &GenConfig) -> (GenSummary, BTreeMap<&'static str, u64>) {
        let (lines, sum) = collect(cfg);
        let ents = entity_lines(cfg);
        let (matcher, names) = Matcher::new(&ents);
        let entity_of = |id: &str| names.iter().position(|n| n == id).unwrap();

        let mut reasons = BTreeMap::new();
        let (mut inserts, mut edits, mut deletes, mut late) = (0u64, 0u64, 0u64, 0u64);
        let mut now = i64::MIN;
        let mut first_arrival: HashMap<String, i64> = HashMap::new();
        let mut live: HashMap<String, (i64, BTreeSet<usize>)> = HashMap::new();
        let mut naive: HashMap<(usize, i64), u64> = HashMap::new();
        let (mut min_c, mut max_c) = (i64::MAX, i64::MIN);
        for line in &lines {
            assert!(!line.contains(&b'\n'));
            match classify(line) {
                Err(r) => *reasons.entry(r).or_insert(0) += 1,
                Ok(Parsed::Delete { id, deleted_ms }) => {
                    deletes += 1;
                    let arrived = first_arrival.get(&id).expect("delete of an earlier id");
                    assert!(*arrived >= now - EDIT_LOOKBACK_MS);
                    assert!(live.remove(&id).is_some(), "double delete {id}");
                    if let Some(t) = deleted_ms {
                        assert_eq!(t, now);
                    }
                }
                Ok(Parsed::Comment {
                    id,
                    text,
                    created_ms,
                    edited_ms,
                }) => {
                    let mentions = matcher.mentions(&text);
                    if let Some(&arrived) = first_arrival.get(&id) {
                        edits += 1;
                        assert!(arrived >= now - EDIT_LOOKBACK_MS);
                        let edited = edited_ms.expect("edit has edited_at");
                        assert_eq!(edited, now);
                        let old = live.get_mut(&id).expect("edit of a live comment");
                        assert_eq!(old.0, created_ms, "edit keeps created_at");
                        old.1 = mentions;
                        continue;
                    }
                    inserts += 1;
                    assert!(edited_ms.is_none());
                    min_c = min_c.min(created_ms);
                    max_c = max_c.max(created_ms);
                    if now != i64::MIN && created_ms < now {
                        late += 1;
                        let behind = now - created_ms;
                        assert!((600_000..=3_600_000).contains(&behind), "late by {behind}");
                    } else {
                        now = created_ms;
                    }
                    first_arrival.insert(id.clone(), now);
                    let ws = created_ms.div_euclid(WINDOW_MS) * WINDOW_MS;
                    for &e in &mentions {
                        *naive.entry((e, ws)).or_insert(0) += 1;
                    }
                    live.insert(id, (created_ms, mentions));
                }
            }
        }
        let malformed: u64 = reasons.values().sum();
        assert_eq!(inserts, cfg.comments);
        assert_eq!(sum.comments, inserts);
        assert_eq!(sum.edits, edits);
        assert_eq!(sum.deletes, deletes);
        assert_eq!(sum.late, late);
        assert_eq!(sum.malformed, malformed);
        if inserts > 0 {
            assert_eq!(sum.first_created_at_ms, min_c);
            assert_eq!(sum.last_created_at_ms, max_c);
            assert_eq!(min_c, cfg.start_ms.div_euclid(1000) * 1000);
        }
        assert_eq!(
            lines.len() as u64,
            inserts + edits + deletes + malformed,
            "every line accounted for"
        );

        // Final state (upserts and deletes applied), as the pipeline must see it.
        let mut fin: HashMap<(usize, i64), u64> = HashMap::new();
        for (created, ms) in live.values() {
            let ws = created.div_euclid(WINDOW_MS) * WINDOW_MS;
            for &e in ms {
                *fin.entry((e, ws)).or_insert(0) += 1;
            }
        }
        let mut totals = vec![0u64; names.len()];
        for (&(e, _), &c) in &naive {
            totals[e] += c;
        }
        let most_popular = (0..names.len()).max_by_key(|&e| totals[e]);
        let mut prev_ws = i64::MIN;
        for b in &sum.bursts {
            let e = entity_of(&b.entity_id);
            assert_ne!(Some(e), most_popular, "burst on the most popular entity");
            assert_eq!(b.window_start_ms % WINDOW_MS, 0);
            assert!(b.window_start_ms > prev_ws, "distinct, ordered windows");
            prev_ws = b.window_start_ms;
            assert!(b.window_start_ms >= sum.first_created_at_ms + BURST_WARMUP_MS);
            assert!(b.mentions >= MIN_BURST_MENTIONS);
            for counts in [&naive, &fin] {
                let (m, z, ratio) = velocity(counts, e, b.window_start_ms);
                assert!(m >= b.mentions, "{b:?}: window holds {m}");
                assert!(
                    m >= 10 && z >= 3.0 && ratio >= 2.0,
                    "{b:?}: m={m} z={z} r={ratio}"
                );
            }
        }
        (sum, reasons)
    }

    #[test]
    fn deterministic() {
        let cfg = GenConfig {
            comments: 3000,
            ..GenConfig::default()
        };
        let (a, sa) = collect(&cfg);
        let (b, sb) = collect(&cfg);
        assert_eq!(a, b);
        assert_eq!(entity_lines(&cfg), entity_lines(&cfg));
        assert_eq!(
            serde_json::to_string(&sa).unwrap(),
            serde_json::to_string(&sb).unwrap()
        );
        let (c, _) = collect(&GenConfig { seed: 7, ..cfg });
        assert_ne!(a, c);
    }

    #[test]
    fn defaults_are_valid_and_bursts_fire() {
        let cfg = GenConfig::default();
        assert_eq!(format_ts(cfg.start_ms), "2021-01-04T00:00:00Z");
        let (sum, _) = check_stream(&cfg);
        assert_eq!(sum.bursts.len(), 3, "{sum:?}");
        assert!(sum.edits > 100 && sum.deletes > 50 && sum.late > 50 && sum.malformed > 5);
    }

    #[test]
    fn every_malformed_kind_is_invalid() {
        let cfg = GenConfig {
            comments: 3000,
            malformed_fraction: 0.05,
            ..GenConfig::default()
        };
        let (sum, reasons) = check_stream(&cfg);
        assert!(sum.malformed >= 100);
        for r in [
            "json",
            "not_object",
            "missing_id",
            "empty_id",
            "id_too_long",
            "missing_text",
            "text_type",
            "bad_timestamp",
            "timestamp_range",
            "utf8",
        ] {
            assert!(reasons.get(r).copied().unwrap_or(0) > 0, "{r}: {reasons:?}");
        }
        assert!(!reasons.contains_key("oversize"));
        // The malformed lines alone: every one of them invalid, no newline inside.
        let (lines, _) = collect(&cfg);
        let bad = lines.iter().filter(|l| classify(l).is_err()).count() as u64;
        assert_eq!(bad, sum.malformed);
    }

    #[test]
    fn higher_rate_and_oversize_once() {
        let cfg = GenConfig {
            comments: 100_000,
            comments_per_minute: 400.0,
            seed: 3,
            ..GenConfig::default()
        };
        let (sum, reasons) = check_stream(&cfg);
        assert_eq!(sum.bursts.len(), 3, "{sum:?}");
        assert_eq!(reasons.get("oversize"), Some(&1));
    }

    /// No entity has a low rate here: bursts go to the least popular ones and scale up.
    #[test]
    fn busy_baselines_scale_the_bursts() {
        let cfg = GenConfig {
            entities: 5,
            ..GenConfig::default()
        };
        let (sum, _) = check_stream(&cfg);
        assert_eq!(sum.bursts.len(), 3, "{sum:?}");
        assert!(sum.bursts.iter().all(|b| b.mentions > 60), "{sum:?}");
    }

    #[test]
    fn varied_configs_hold_the_invariants() {
        let mut rng = ChaCha8Rng::seed_from_u64(99);
        for round in 0..6u64 {
            let cfg = GenConfig {
                comments: rng.gen_range(5_000..40_000),
                seed: round * 1000 + 1,
                entities: rng.gen_range(2..400),
                start_ms: 1_500_000_000_123 + rng.gen_range(0..1_000_000_000),
                comments_per_minute: [3.0, 25.0, 60.0, 150.0, 400.0, 90.0][round as usize],
                bursts: rng.gen_range(0..6),
                edit_fraction: [0.0, 0.3, 1.5, 0.02, 0.1, 0.05][round as usize],
                delete_fraction: [0.0, 0.2, 0.5, 0.01, 0.1, 0.05][round as usize],
                late_fraction: [0.0, 0.3, 0.05, 0.01, 1.0, 0.1][round as usize],
                malformed_fraction: [0.0, 0.01, 0.002, 0.5, 0.02, 0.0][round as usize],
            };
            let (sum, _) = check_stream(&cfg);
            assert!(sum.bursts.len() <= cfg.bursts, "{cfg:?}");
        }
    }

    /// `cargo test --release -- --ignored`: bursts still fire at 20k comments per minute.
    #[test]
    #[ignore = "slow: 3M comments"]
    fn very_high_rate_bursts_fire() {
        let cfg = GenConfig {
            comments: 3_000_000,
            comments_per_minute: 20_000.0,
            ..GenConfig::default()
        };
        let (sum, _) = check_stream(&cfg);
        assert_eq!(sum.bursts.len(), 3, "{sum:?}");
        assert!(
            sum.bursts.iter().all(|b| b.mentions > MIN_BURST_MENTIONS),
            "{sum:?}"
        );
    }

    #[test]
    fn short_or_small_streams_place_fewer_bursts() {
        let short = GenConfig {
            comments: 2000,
            ..GenConfig::default()
        };
        assert!(check_stream(&short).0.bursts.is_empty());
        let none = GenConfig {
            bursts: 0,
            ..GenConfig::default()
        };
        assert!(check_stream(&none).0.bursts.is_empty());
        let tiny = GenConfig {
            entities: 1,
            ..GenConfig::default()
        };
        assert!(check_stream(&tiny).0.bursts.is_empty());
        let empty = GenConfig {
            entities: 0,
            comments: 500,
            ..GenConfig::default()
        };
        check_stream(&empty);
        let nothing = GenConfig {
            comments: 0,
            ..GenConfig::default()
        };
        let (lines, sum) = collect(&nothing);
        assert!(lines.is_empty() && sum.comments == 0);
    }

    #[test]
    fn entity_catalog() {
        let cfg = GenConfig::default();
        let lines = entity_lines(&cfg);
        assert_eq!(lines.len(), 200);
        let common = [
            "THE", "AND", "FOR", "ARE", "BUT", "NOT", "YOU", "ALL", "CAN", "WAS", "ONE", "OUT",
            "GET", "HAS", "NEW", "NOW", "SEE", "WHO", "JOB", "KEY", "ZOO", "ZERO", "JUST", "KNOW",
            "BACK", "WORK", "LIKE", "LOVE", "MOON", "GOOD", "HOLD", "HODL", "YOLO", "BUY", "SELL",
            "JINX", "JAZZ", "QUIZ", "VERY", "TAX", "BOX", "SIX", "FIX", "MAX",
        ];
        let vocab = vocabulary();
        let mut prev = String::new();
        for l in &lines {
            let v: Value = serde_json::from_slice(l).unwrap();
            let id = v["id"].as_str().unwrap();
            assert!(id.len() == 3 || id.len() == 4, "{id}");
            assert!(id.bytes().all(|c| c.is_ascii_uppercase()));
            assert!(
                !common.contains(&id) && !vocab.contains(&id.to_lowercase()),
                "{id}"
            );
            assert!(id > prev.as_str(), "sorted and unique");
            prev = id.to_string();
            assert_eq!(v["kind"], "ticker");
            assert_eq!(v["symbols"], serde_json::json!([id]));
            let name = v["name"].as_str().unwrap();
            let aliases = v["aliases"].as_array().unwrap();
            let short = aliases[0].as_str().unwrap();
            assert!(name.starts_with(short) && name.len() > short.len());
            assert!(aliases.len() <= 2);
            assert!(v["attributes"]["sector"].is_string());
            assert!(v["attributes"]["exchange"].is_string());
        }
        // A large catalog still has unique ids and aliases (Matcher::new asserts).
        let big = GenConfig {
            entities: 20_000,
            ..cfg
        };
        let lines = entity_lines(&big);
        assert_eq!(lines.len(), 20_000);
        Matcher::new(&lines);
    }

    #[test]
    fn templates_keep_mentions_whole_tokens() {
        for (pre, post) in MENTION_TEMPLATES.iter().chain(BURST_TEMPLATES) {
            assert!(pre.is_empty() || pre.ends_with(' '), "{pre:?}");
            assert!(!post.starts_with(|c: char| c.is_alphanumeric()), "{post:?}");
        }
    }

    #[test]
    fn helpers() {
        for ms in [
            0,
            1_609_718_400_000,
            1_611_842_591_999,
            951_782_400_000,
            4_102_444_799_000,
        ] {
            let t = time::OffsetDateTime::from_unix_timestamp(ms / 1000).unwrap();
            let expect = t
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap();
            assert_eq!(format_ts(ms), expect);
            assert_eq!(parse_ts(&expect), Some(ms / 1000 * 1000));
        }
        let mut out = Vec::new();
        push_json_str(&mut out, "a\"b\\c\nd\u{1}é🚀", true);
        let s = String::from_utf8(out.clone()).unwrap();
        assert_eq!(s, "a\\\"b\\\\c\\nd\\u0001\\u00e9\\ud83d\\ude80");
        let back: String = serde_json::from_str(&format!("\"{s}\"")).unwrap();
        assert_eq!(back, "a\"b\\c\nd\u{1}é🚀");
        out.clear();
        push_json_str(&mut out, "é🚀\t", false);
        assert_eq!(out, "é🚀\\t".as_bytes());
        let alphabet: Vec<char> = "ab\"\\\n\t\r\u{0}\u{1f}\u{7f}é€🚀Ｚ z".chars().collect();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..2000 {
            let len = rng.gen_range(0..40);
            let st: String = (0..len)
                .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                .collect();
            for ascii in [false, true] {
                let mut out = b"\"".to_vec();
                push_json_str(&mut out, &st, ascii);
                out.push(b'"');
                assert!(!ascii || out.is_ascii());
                let back: String = serde_json::from_slice(&out).unwrap();
                assert_eq!(back, st);
            }
        }
        let z = Zipf::new(50, 1.1);
        let mut hist = [0u32; 50];
        for _ in 0..200_000 {
            hist[z.sample(&mut rng)] += 1;
        }
        for (i, &h) in hist.iter().enumerate() {
            let expect = z.pmf(i) * 200_000.0;
            assert!(
                (h as f64 - expect).abs() < 5.0 * expect.sqrt() + 5.0,
                "{i}: {h} vs {expect}"
            );
        }
        let sc = Scramble::new(42, 3);
        let seen: HashSet<u64> = (0..36u64.pow(3)).map(|i| sc.apply(i)).collect();
        assert_eq!(seen.len(), 36usize.pow(3));
    }
}
