//! Mention extraction (SPEC §2.1) and per-comment NLP: one immutable [`Matcher`] per catalog
//! version, shared by all workers of a process, plus deterministic sentiment and language.
//!
//! Matching rules, after NFKC normalisation of the text:
//! - cashtag `$SYMBOL`, case-insensitive, for the entity id and each of its symbols;
//! - each symbol of two or more characters as a whole token, case-sensitive, unless the symbol is
//!   cashtag-only: jargon such as `DD`, `CEO`, `YOLO` ([`DEFAULT_CASHTAG_ONLY`]) and symbols that
//!   are common English words such as `ON`, `IT`, `ALL` ([`is_common_word`]);
//! - each alias as a whole phrase, case-insensitive, any whitespace run matching one space, unless
//!   the alias is a single English dictionary word such as "Target" or "Apple"
//!   ([`is_dictionary_word`]): those would tag every "price target".
//!
//! Word boundaries are characters that are not alphanumeric (Unicode). A comment mentions an
//! entity once however often it names it.

pub mod language;
pub mod sentiment;

use crate::model::{Entity, EntityKey};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// Jargon and abbreviations that are not dictionary words but appear as bare upper-case
/// words on r/wallstreetbets without meaning the ticker (shared/data/README.md measures DD in
/// 8.1k posts, YOLO 7.5k, CEO 2.7k, HODL 2.1k …). Such symbols match only as `$CASHTAGS`.
/// Symbols whose lower-case form is a common English word (ON, IT, ALL, YOU, HOLD, NOW, CAT …,
/// the SCOWL size-10/20 lists in `assets/words-common.txt`) are cashtag-only as well.
pub const DEFAULT_CASHTAG_ONLY: &[&str] = &[
    "ATH", "CEO", "CFO", "COO", "CTO", "DD", "EOD", "EPS", "ETF", "EV", "FD", "FOMO", "HODL",
    "IMO", "IPO", "ITM", "LOL", "OTM", "PT", "RH", "SEC", "SI", "TA", "TD", "TLDR", "USA", "USD",
    "UK", "US", "WSB", "YOLO", "API", "IRS", "FDA", "GDP", "CPI", "ETA", "IV", "OI", "PM", "AM",
    "TV", "AI", "NFT", "ESG", "IRA", "LLC", "PR", "QE", "RSI", "SPAC", "ATM",
];

/// The most common English words (SCOWL sizes 10 and 20, lower-case), one per line.
const COMMON_WORDS: &str = include_str!("../../assets/words-common.txt");
/// Further common English words (SCOWL size 35, lower-case), one per line.
const LESS_COMMON_WORDS: &str = include_str!("../../assets/words-less-common.txt");

fn dictionary() -> &'static (HashSet<&'static str>, HashSet<&'static str>) {
    static WORDS: OnceLock<(HashSet<&'static str>, HashSet<&'static str>)> = OnceLock::new();
    WORDS.get_or_init(|| {
        (
            COMMON_WORDS
                .lines()
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .collect(),
            LESS_COMMON_WORDS
                .lines()
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .collect(),
        )
    })
}

/// Whether `word` (lower-case) is one of the most common English words.
pub fn is_common_word(word: &str) -> bool {
    dictionary().0.contains(word)
}

/// Whether `word` (lower-case) is an English dictionary word (common or less common).
pub fn is_dictionary_word(word: &str) -> bool {
    let (common, less_common) = dictionary();
    common.contains(word) || less_common.contains(word)
}

/// Extraction policy, part of the pipeline config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtractConfig {
    /// Symbols that match only as cashtags (upper-case); the built-in list is added unless
    /// `default_stop_lists` is false.
    pub cashtag_only: BTreeSet<String>,
    /// Single-word aliases (lower-case) that never match; English dictionary words are added
    /// unless `default_stop_lists` is false.
    pub alias_stop_words: BTreeSet<String>,
    /// Use [`DEFAULT_CASHTAG_ONLY`], common-word symbols as cashtag-only, and dictionary words
    /// as alias stop words.
    pub default_stop_lists: bool,
    /// Also match an entity's `name` as an alias (an extension of SPEC §2.1; off by default,
    /// so that only what the catalog lists matches). Older snapshots lack it: off.
    #[serde(default)]
    pub match_names: bool,
}

impl Default for ExtractConfig {
    fn default() -> Self {
        ExtractConfig {
            cashtag_only: BTreeSet::new(),
            alias_stop_words: BTreeSet::new(),
            default_stop_lists: true,
            match_names: false,
        }
    }
}

impl ExtractConfig {
    fn is_cashtag_only(&self, symbol: &str) -> bool {
        symbol.chars().count() < 2
            || self.cashtag_only.contains(symbol)
            || (self.default_stop_lists
                && (DEFAULT_CASHTAG_ONLY.contains(&symbol)
                    || is_common_word(&symbol.to_lowercase())))
    }

    fn is_stop_alias(&self, folded_alias: &str) -> bool {
        if folded_alias.contains(' ') {
            return false;
        }
        if self.alias_stop_words.contains(folded_alias) {
            return true;
        }
        self.default_stop_lists && is_dictionary_word(folded_alias)
    }
}

/// The catalog compiled for matching. Immutable; rebuilt when the catalog changes.
pub struct Matcher {
    /// Case-sensitive bare symbols over the NFKC text.
    exact: TokenIndex,
    exact_targets: Vec<Vec<EntityKey>>,
    /// `$symbol` cashtags and aliases over the folded (lower-case, whitespace-collapsed) text.
    folded: TokenIndex,
    folded_targets: Vec<(PatternKind, Vec<EntityKey>)>,
    entity_count: usize,
}

/// Patterns found through their leading words instead of an automaton pass over the text.
///
/// A match that passes the boundary rules starts where an alphanumeric run of the text
/// starts (or at the `$` just before one, for cashtags), and the pattern's leading run is
/// exactly that run of the text: the pattern's next character is not alphanumeric, or the
/// pattern ends there and the boundary after it is checked. The same holds for the pattern's
/// second run, if it has one, and the text's next run. So a pattern is keyed by its text up to
/// the end of its second run (or of its only run), and two hash probes per run of the text (the
/// run alone, and the run with the separator and the next run) find every candidate; a prefix
/// comparison confirms it and the caller checks the boundaries as before. Two runs rather
/// than one keep "the …" or "bank of …" aliases from making every "the" a candidate. The few
/// patterns that start otherwise (with punctuation) are searched by an automaton.
struct TokenIndex {
    patterns: Vec<Box<str>>,
    /// Key (with its `$`, if any) → patterns.
    by_key: HashMap<Box<str>, Vec<u32>, ahash::RandomState>,
    /// A Bloom filter of the keys' leading runs (with their `$`): most runs of a text lead
    /// no key, and one cheap hash and one bit rule both of their probes out.
    leading: Vec<u64>,
    /// Patterns without a leading run, and their automaton.
    rest: Option<(AhoCorasick, Vec<u32>)>,
}

/// Calls `on_run(start, end)` for every alphanumeric run, given each character's offset and
/// whether it is alphanumeric (a byte loop for ASCII text, a char loop otherwise).
fn runs(
    chars: impl Iterator<Item = (usize, bool)>,
    len: usize,
    on_run: &mut impl FnMut(usize, usize),
) {
    let mut start = None;
    for (i, alphanumeric) in chars {
        match (alphanumeric, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                on_run(s, i);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        on_run(s, len);
    }
}

/// Bits in a [`TokenIndex`]'s filter of leading runs (32 KiB: it stays in cache; a catalog
/// of 15.8k entities sets about a tenth of them).
const LEADING_BITS: u32 = 18;

/// A cheap hash of a run for the filter of leading runs (not for a map: collisions only cost
/// a probe).
#[inline]
fn run_hash(run: &[u8]) -> u64 {
    let mut hash: u64 = run.len() as u64;
    for &byte in run {
        hash = (hash.rotate_left(5) ^ u64::from(byte)).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    hash
}

#[inline]
fn leading_bit(run: &[u8]) -> (usize, u64) {
    let bit = (run_hash(run) >> (64 - LEADING_BITS)) as usize;
    (bit / 64, 1 << (bit % 64))
}

/// The end of the alphanumeric run that starts `text`, or 0.
fn run_end(text: &str) -> usize {
    text.char_indices()
        .find(|(_, c)| !c.is_alphanumeric())
        .map_or(text.len(), |(i, _)| i)
}

/// A pattern's key: its text up to the end of its second alphanumeric run, or of its only one
/// (after a leading `$`); None when it does not start with a run.
fn key(pattern: &str) -> Option<&str> {
    let skip = usize::from(pattern.starts_with('$'));
    let first = skip + run_end(&pattern[skip..]);
    if first == skip {
        return None;
    }
    let gap = pattern[first..]
        .char_indices()
        .find(|(_, c)| c.is_alphanumeric())
        .map(|(i, _)| first + i);
    Some(match gap {
        Some(second) => &pattern[..second + run_end(&pattern[second..])],
        None => &pattern[..first],
    })
}

impl TokenIndex {
    fn build<'a>(patterns: impl IntoIterator<Item = &'a String>) -> TokenIndex {
        let patterns: Vec<Box<str>> = patterns.into_iter().map(|p| p.as_str().into()).collect();
        let mut by_key: HashMap<Box<str>, Vec<u32>, ahash::RandomState> =
            HashMap::with_hasher(ahash::RandomState::with_seeds(1, 2, 3, 4));
        let mut rest = Vec::new();
        let mut leading = vec![0u64; 1 << (LEADING_BITS - 6)];
        for (i, pattern) in patterns.iter().enumerate() {
            match key(pattern) {
                Some(key) => {
                    let skip = usize::from(key.starts_with('$'));
                    let (word, bit) = leading_bit(&key.as_bytes()[..skip + run_end(&key[skip..])]);
                    leading[word] |= bit;
                    by_key.entry(key.into()).or_default().push(i as u32)
                }
                None => rest.push(i as u32),
            }
        }
        let rest = if rest.is_empty() {
            None
        } else {
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .build(rest.iter().map(|&i| patterns[i as usize].as_bytes()))
                .ok()
                .map(|ac| (ac, rest))
        };
        TokenIndex {
            patterns,
            by_key,
            leading,
            rest,
        }
    }

    /// Calls `hit(pattern, start, end)` for every occurrence in `text` of a pattern that
    /// starts at a run (or at the `$` before one), and of every pattern without a leading run.
    /// `ascii`: the caller knows `text` is ASCII (else it is checked here).
    fn find(&self, text: &str, ascii: bool, mut hit: impl FnMut(usize, usize, usize)) {
        if self.patterns.is_empty() {
            return;
        }
        let bytes = text.as_bytes();
        let mut probe = |start: usize, end: usize| {
            if let Some(candidates) = self.by_key.get(&text[start..end]) {
                for &i in candidates {
                    let pattern = &self.patterns[i as usize];
                    if bytes[start..].starts_with(pattern.as_bytes()) {
                        hit(i as usize, start, start + pattern.len());
                    }
                }
            }
        };
        // A run [start, end), and where the next run ends (if there is one).
        let mut at_run = |start: usize, end: usize, next_end: Option<usize>| {
            let dollar = (start > 0 && bytes[start - 1] == b'$').then(|| start - 1);
            for from in [Some(start), dollar].into_iter().flatten() {
                let (word, bit) = leading_bit(&bytes[from..end]);
                if self.leading[word] & bit == 0 {
                    continue;
                }
                probe(from, end);
                if let Some(next_end) = next_end {
                    probe(from, next_end);
                }
            }
        };
        let mut previous: Option<(usize, usize)> = None;
        let mut on_run = |start: usize, end: usize| {
            if let Some((s, e)) = previous {
                at_run(s, e, Some(end));
            }
            previous = Some((start, end));
        };
        if ascii || text.is_ascii() {
            runs(
                bytes.iter().map(u8::is_ascii_alphanumeric).enumerate(),
                text.len(),
                &mut on_run,
            );
        } else {
            runs(
                text.char_indices().map(|(i, c)| (i, c.is_alphanumeric())),
                text.len(),
                &mut on_run,
            );
        }
        if let Some((s, e)) = previous {
            at_run(s, e, None);
        }
        if let Some((ac, ids)) = &self.rest {
            for m in ac.find_overlapping_iter(text) {
                hit(ids[m.pattern().as_usize()] as usize, m.start(), m.end());
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PatternKind {
    Cashtag,
    Alias,
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Matcher")
            .field("entities", &self.entity_count)
            .field("exact_patterns", &self.exact_targets.len())
            .field("folded_patterns", &self.folded_targets.len())
            .finish()
    }
}

/// Lower-cases and collapses every whitespace run to one space (the folded form of SPEC §2.1).
pub fn fold(text: &str, out: &mut String) {
    fold_known(text, text.is_ascii(), out)
}

/// [`fold`] of a text whose ASCII-ness the caller has checked.
fn fold_known(text: &str, ascii: bool, out: &mut String) {
    out.clear();
    out.reserve(text.len());
    let mut in_space = false;
    if ascii {
        // Bytes, not chars: no UTF-8 encoding per character (ASCII in, ASCII out).
        let mut bytes = std::mem::take(out).into_bytes();
        for &byte in text.as_bytes() {
            if byte.is_ascii_whitespace() {
                if !in_space {
                    bytes.push(b' ');
                }
                in_space = true;
            } else {
                bytes.push(byte.to_ascii_lowercase());
                in_space = false;
            }
        }
        *out = String::from_utf8(bytes).unwrap_or_default();
        return;
    }
    for ch in text.chars() {
        if ch.is_whitespace() {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            // ASCII characters of mixed text skip the Unicode case tables.
            if ch.is_ascii() {
                out.push(ch.to_ascii_lowercase());
            } else {
                out.extend(ch.to_lowercase());
            }
            in_space = false;
        }
    }
}

/// NFKC normalisation with an allocation-free fast path for text that is already normal.
pub fn nfkc(text: &str, out: &mut String) -> bool {
    if text.is_ascii() || is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        return false;
    }
    out.clear();
    out.extend(text.nfkc());
    true
}

fn is_boundary_before(text: &str, start: usize) -> bool {
    text[..start]
        .chars()
        .next_back()
        .is_none_or(|c| !c.is_alphanumeric())
}

fn is_boundary_after(text: &str, end: usize) -> bool {
    text[end..]
        .chars()
        .next()
        .is_none_or(|c| !c.is_alphanumeric())
}

impl Matcher {
    /// Compiles the catalog. `keys` gives each entity's dense key.
    pub fn build<'a>(
        entities: impl IntoIterator<Item = (&'a Entity, EntityKey)>,
        config: &ExtractConfig,
    ) -> Matcher {
        let mut exact: BTreeMap<String, BTreeSet<EntityKey>> = BTreeMap::new();
        let mut folded: BTreeMap<String, (PatternKind, BTreeSet<EntityKey>)> = BTreeMap::new();
        let mut scratch = String::new();
        let mut normal = String::new();
        let mut entity_count = 0;
        for (entity, key) in entities {
            entity_count += 1;
            // SPEC §2.1: the id and every symbol are cashtag targets; only the symbols match
            // as bare tokens (a catalog that leaves its id out of `symbols` excluded it).
            let symbols = entity.symbols.iter().map(|s| (s.as_str(), true));
            let id = (!entity.symbols.contains(&entity.id)).then_some((entity.id.as_str(), false));
            for (symbol, bare) in symbols.chain(id) {
                let symbol = symbol.trim();
                if symbol.is_empty() {
                    continue;
                }
                let symbol = if nfkc(symbol, &mut normal) {
                    normal.as_str()
                } else {
                    symbol
                };
                fold(&format!("${symbol}"), &mut scratch);
                folded
                    .entry(scratch.clone())
                    .or_insert_with(|| (PatternKind::Cashtag, BTreeSet::new()))
                    .1
                    .insert(key);
                if bare && !config.is_cashtag_only(symbol) {
                    exact.entry(symbol.to_string()).or_default().insert(key);
                }
            }
            let name = config.match_names.then_some(&entity.name);
            for alias in entity.aliases.iter().chain(name) {
                let alias = if nfkc(alias, &mut normal) {
                    normal.as_str()
                } else {
                    alias.as_str()
                };
                fold(alias.trim(), &mut scratch);
                if scratch.chars().filter(|c| c.is_alphanumeric()).count() < 2
                    || config.is_stop_alias(&scratch)
                {
                    continue;
                }
                let entry = folded
                    .entry(scratch.clone())
                    .or_insert_with(|| (PatternKind::Alias, BTreeSet::new()));
                entry.1.insert(key);
            }
        }
        Matcher {
            exact: TokenIndex::build(exact.keys()),
            exact_targets: exact
                .into_values()
                .map(|keys| keys.into_iter().collect())
                .collect(),
            folded: TokenIndex::build(folded.keys()),
            folded_targets: folded
                .into_values()
                .map(|(kind, keys)| (kind, keys.into_iter().collect()))
                .collect(),
            entity_count,
        }
    }

    /// An empty matcher (no catalog yet).
    pub fn empty() -> Matcher {
        Matcher::build(std::iter::empty(), &ExtractConfig::default())
    }

    /// The entities `text` mentions, sorted and de-duplicated. `scratch` is reused between calls.
    pub fn mentions(&self, text: &str, scratch: &mut Scratch) -> Vec<EntityKey> {
        let mut found = Vec::new();
        if self.entity_count == 0 {
            return found;
        }
        // One ASCII check of the text for the normalisation, both searches and the folding.
        let ascii = text.is_ascii();
        let text = if !ascii && nfkc(text, &mut scratch.normal) {
            scratch.normal.as_str()
        } else {
            text
        };
        self.exact.find(text, ascii, |pattern, start, end| {
            if is_boundary_before(text, start) && is_boundary_after(text, end) {
                found.extend_from_slice(&self.exact_targets[pattern]);
            }
        });
        if !self.folded.patterns.is_empty() {
            fold_known(text, ascii, &mut scratch.folded);
            let folded = scratch.folded.as_str();
            self.folded.find(folded, ascii, |pattern, start, end| {
                let (kind, keys) = &self.folded_targets[pattern];
                let before_ok = *kind == PatternKind::Cashtag || is_boundary_before(folded, start);
                if before_ok && is_boundary_after(folded, end) {
                    found.extend_from_slice(keys);
                }
            });
        }
        found.sort_unstable();
        found.dedup();
        found
    }
}

/// Per-worker reusable buffers for extraction.
#[derive(Debug, Default)]
pub struct Scratch {
    normal: String,
    folded: String,
}

/// What one comment's text yields.
#[derive(Debug, Clone, PartialEq)]
pub struct TextFacts {
    pub entities: Vec<EntityKey>,
    pub sentiment_e4: i32,
    pub language: Option<language::Language>,
}

/// Runs every per-comment analysis: mentions, VADER sentiment, language.
pub fn analyse(matcher: &Matcher, text: &str, scratch: &mut Scratch) -> TextFacts {
    TextFacts {
        entities: matcher.mentions(text, scratch),
        sentiment_e4: sentiment::vader_compound_e4(text),
        language: language::detect(text),
    }
}

/// One compiled matcher per catalog version, shared by the workers of a process so that a
/// 15k-entity catalog is compiled once, not once per worker.
#[derive(Debug, Clone, Default)]
pub struct MatcherCache {
    inner: Arc<Mutex<HashMap<u64, Arc<Matcher>>>>,
}

impl MatcherCache {
    /// The matcher for catalog `version` (every worker names the same version for the same
    /// catalog); `build` runs on the first worker to ask. Older versions are dropped.
    pub fn get_or_build(&self, version: u64, build: impl FnOnce() -> Matcher) -> Arc<Matcher> {
        let mut map = match self.inner.lock() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(matcher) = map.get(&version) {
            return matcher.clone();
        }
        let matcher = Arc::new(build());
        map.retain(|existing, _| *existing > version);
        map.insert(version, matcher.clone());
        matcher
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(id: &str, name: &str, aliases: &[&str]) -> Entity {
        Entity {
            id: id.to_string(),
            kind: "ticker".to_string(),
            name: name.to_string(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            symbols: vec![id.to_string()],
            attributes: BTreeMap::new(),
        }
    }

    fn catalog() -> Vec<Entity> {
        vec![
            entity("GME", "GameStop Corp.", &["GameStop", "Game Stop"]),
            entity(
                "AMC",
                "AMC Entertainment Holdings, Inc.",
                &["AMC Entertainment"],
            ),
            entity(
                "DD",
                "DuPont de Nemours, Inc.",
                &["DuPont de Nemours", "DuPont"],
            ),
            entity("CEO", "Ceo Corp", &[]),
            entity("ON", "ON Semiconductor", &["ON Semiconductor"]),
            entity("IT", "Gartner, Inc.", &["Gartner"]),
            entity("ALL", "Allstate Corp", &["Allstate"]),
            entity("F", "Ford Motor Company", &["Ford Motor", "Ford"]),
            entity("TGT", "Target Corporation", &["Target"]),
            entity("AAPL", "Apple Inc.", &["Apple"]),
            entity("BRK.B", "Berkshire Hathaway", &["Berkshire Hathaway"]),
            entity("7203.T", "トヨタ自動車", &["Toyota Motor"]),
            entity("SAN", "Banco Santander", &["Banco Santander", "Santander"]),
            entity("NESN", "Nestlé S.A.", &["Nestlé"]),
        ]
    }

    fn matcher() -> (Matcher, Vec<String>) {
        let entities = catalog();
        let ids = entities.iter().map(|e| e.id.clone()).collect();
        let matcher = Matcher::build(
            entities.iter().zip(0..).map(|(e, k)| (e, k as EntityKey)),
            &ExtractConfig::default(),
        );
        (matcher, ids)
    }

    fn found(text: &str) -> Vec<String> {
        found_in(&catalog(), &ExtractConfig::default(), text)
    }

    fn found_with_names(text: &str) -> Vec<String> {
        let config = ExtractConfig {
            match_names: true,
            ..ExtractConfig::default()
        };
        found_in(&catalog(), &config, text)
    }

    fn found_in(entities: &[Entity], config: &ExtractConfig, text: &str) -> Vec<String> {
        let ids: Vec<String> = entities.iter().map(|e| e.id.clone()).collect();
        let matcher = Matcher::build(
            entities.iter().zip(0..).map(|(e, k)| (e, k as EntityKey)),
            config,
        );
        let mut scratch = Scratch::default();
        let mut names: Vec<String> = matcher
            .mentions(text, &mut scratch)
            .into_iter()
            .map(|k| ids[k as usize].clone())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn cashtags_are_case_insensitive_and_tolerate_punctuation() {
        assert_eq!(found("GME to the moon 🚀 $GME"), vec!["GME"]);
        assert_eq!(found("buying $gme, $amc."), vec!["AMC", "GME"]);
        assert_eq!(found("($GME)"), vec!["GME"]);
        assert_eq!(found("$GMEX is not it"), Vec::<String>::new());
        assert_eq!(found("I like $brk.b and $F"), vec!["BRK.B", "F"]);
    }

    #[test]
    fn bare_symbols_are_case_sensitive_whole_tokens() {
        assert_eq!(found("GME is going up"), vec!["GME"]);
        assert_eq!(found("gme is going up"), Vec::<String>::new());
        assert_eq!(found("GMEs and AGME"), Vec::<String>::new());
        assert_eq!(found("GME."), vec!["GME"]);
        assert_eq!(found("AMC/GME"), vec!["AMC", "GME"]);
        assert_eq!(found("BRK.B holders"), vec!["BRK.B"]);
    }

    /// SPEC §2.1: an id is a cashtag target only; a catalog that leaves it out of `symbols`
    /// excluded the bare token on purpose (BlackBerry's "BB" is also a common abbreviation).
    #[test]
    fn an_id_left_out_of_symbols_matches_only_as_a_cashtag() {
        let mut bb = entity("BB", "BlackBerry Limited", &[]);
        bb.symbols.clear();
        let listed = entity("GME", "GameStop Corp.", &[]);
        let entities = vec![bb, listed];
        for config in [
            ExtractConfig::default(),
            ExtractConfig {
                default_stop_lists: false,
                match_names: true,
                ..ExtractConfig::default()
            },
        ] {
            let found = |text: &str| found_in(&entities, &config, text);
            assert_eq!(found("BB to the moon"), Vec::<String>::new(), "{config:?}");
            assert_eq!(found("BB GME"), vec!["GME"], "{config:?}");
            assert_eq!(found("$BB and $bb"), vec!["BB"], "{config:?}");
            assert_eq!(found("(BB)"), Vec::<String>::new(), "{config:?}");
        }
    }

    /// `match_names` (off by default) adds each entity's name as one more alias, under the
    /// alias rules (case-insensitive whole phrase, stop-listed single words).
    #[test]
    fn names_match_only_with_match_names() {
        assert_eq!(
            found("Ford Motor Company recalls"),
            vec!["F"],
            "alias Ford Motor"
        );
        assert_eq!(found("gartner, inc. reports"), vec!["IT"], "alias Gartner");
        assert_eq!(found("target corporation"), Vec::<String>::new());
        assert_eq!(found_with_names("target corporation"), vec!["TGT"]);
        assert_eq!(found_with_names("TARGET  CORPORATION"), vec!["TGT"]);
        assert_eq!(found_with_names("targetcorporation"), Vec::<String>::new());
        assert_eq!(found("apple inc. earnings"), Vec::<String>::new());
        assert_eq!(found_with_names("apple inc. earnings"), vec!["AAPL"]);
    }

    #[test]
    fn single_letter_symbols_match_only_as_cashtags() {
        assert_eq!(found("F this"), Vec::<String>::new());
        assert_eq!(found("$F calls"), vec!["F"]);
    }

    #[test]
    fn stop_listed_symbols_need_a_cashtag() {
        assert_eq!(
            found("DD on GME: the CEO said IT is ALL ON"),
            vec!["GME"],
            "common words must not tag DD, CEO, IT, ALL, ON"
        );
        assert_eq!(found("$DD and $ON and $IT"), vec!["DD", "IT", "ON"]);
    }

    #[test]
    fn aliases_are_case_insensitive_phrases_across_whitespace() {
        assert_eq!(found("gamestop earnings"), vec!["GME"]);
        assert_eq!(found("GAME\n\n  STOP is back"), vec!["GME"]);
        assert_eq!(found("the amc   entertainment board"), vec!["AMC"]);
        assert_eq!(found("gamestopped"), Vec::<String>::new());
        assert_eq!(found("dupont de\nnemours"), vec!["DD"]);
    }

    #[test]
    fn ordinary_word_aliases_are_stop_listed() {
        assert_eq!(found("my price target is 400"), Vec::<String>::new());
        assert_eq!(found("apple pie and a ford"), Vec::<String>::new());
        assert_eq!(found("Ford Motor recalls"), vec!["F"]);
        assert_eq!(found("AAPL and $TGT"), vec!["AAPL", "TGT"]);
    }

    #[test]
    fn unicode_nfkc_and_non_latin_scripts() {
        // Full-width letters normalise to ASCII under NFKC.
        assert_eq!(found("ＧＭＥ to the moon"), vec!["GME"]);
        assert_eq!(found("＄ｇｍｅ"), vec!["GME"]);
        assert_eq!(
            found("トヨタ自動車の決算"),
            Vec::<String>::new(),
            "no boundary inside CJK text"
        );
        assert_eq!(
            found("「トヨタ自動車」"),
            Vec::<String>::new(),
            "a name is no alias"
        );
        assert_eq!(found_with_names("「トヨタ自動車」"), vec!["7203.T"]);
        assert_eq!(found("nestlé results"), vec!["NESN"]);
        assert_eq!(found("NESTLÉ results"), vec!["NESN"]);
        assert_eq!(found("Banco Santander sube"), vec!["SAN"]);
        assert_eq!(found("🚀🚀$AMC💎🙌"), vec!["AMC"]);
    }

    #[test]
    fn counts_once_per_entity() {
        let (matcher, _) = matcher();
        let mut scratch = Scratch::default();
        assert_eq!(
            matcher
                .mentions("GME GME $GME GameStop gamestop", &mut scratch)
                .len(),
            1
        );
    }

    #[test]
    fn empty_catalog_and_empty_text() {
        let mut scratch = Scratch::default();
        assert!(Matcher::empty().mentions("GME", &mut scratch).is_empty());
        let (matcher, _) = matcher();
        assert!(matcher.mentions("", &mut scratch).is_empty());
        assert!(matcher.mentions("$", &mut scratch).is_empty());
    }

    #[test]
    fn cache_builds_once_per_version() {
        let cache = MatcherCache::default();
        let mut builds = 0;
        let first = cache.get_or_build(1, || {
            builds += 1;
            Matcher::empty()
        });
        let second = cache.get_or_build(1, || {
            builds += 1;
            Matcher::empty()
        });
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(builds, 1);
    }

    /// The reference: an overlapping Aho-Corasick search over every pattern, with the same
    /// boundary rules (what the matcher did before the token index).
    fn by_automaton(matcher: &Matcher, text: &str) -> Vec<EntityKey> {
        let mut found = Vec::new();
        let mut normal = String::new();
        let text = if nfkc(text, &mut normal) {
            normal.as_str()
        } else {
            text
        };
        let search = |index: &TokenIndex, text: &str, hit: &mut dyn FnMut(usize, usize, usize)| {
            if index.patterns.is_empty() {
                return;
            }
            let ac = AhoCorasick::new(index.patterns.iter().map(|p| p.as_bytes())).unwrap();
            for m in ac.find_overlapping_iter(text) {
                hit(m.pattern().as_usize(), m.start(), m.end());
            }
        };
        search(&matcher.exact, text, &mut |p, start, end| {
            if is_boundary_before(text, start) && is_boundary_after(text, end) {
                found.extend_from_slice(&matcher.exact_targets[p]);
            }
        });
        let mut folded = String::new();
        fold(text, &mut folded);
        search(&matcher.folded, &folded, &mut |p, start, end| {
            let (kind, keys) = &matcher.folded_targets[p];
            if (*kind == PatternKind::Cashtag || is_boundary_before(&folded, start))
                && is_boundary_after(&folded, end)
            {
                found.extend_from_slice(keys);
            }
        });
        found.sort_unstable();
        found.dedup();
        found
    }

    #[test]
    fn the_token_index_finds_what_an_automaton_search_finds() {
        use rand::{Rng, SeedableRng};
        let mut entities = catalog();
        // Patterns that start with punctuation take the automaton path; others hold it inside.
        entities.push(entity("NET", ".NET Foundation", &["'Murica Inc"]));
        entities.push(entity("T", "AT&T Inc.", &["AT&T", "S&P 500 Tracker"]));
        entities.push(entity("KO", "Coca-Cola", &["coca-cola", "Coke"]));
        entities.push(entity("ÉA", "Électricité", &["Électricité de France"]));
        let matcher = Matcher::build(
            entities.iter().zip(0..).map(|(e, k)| (e, k as EntityKey)),
            &ExtractConfig::default(),
        );
        let mut pieces: Vec<String> = Vec::new();
        for e in &entities {
            for p in e.aliases.iter().chain([&e.name, &e.id]) {
                pieces.push(p.clone());
                pieces.push(p.to_lowercase());
                pieces.push(p.to_uppercase());
                pieces.push(format!("${p}"));
            }
        }
        for sep in [
            " ", "  ", "\n", "$", ".", "-", "'", "&", "x", "1", "é", "ﬁ", "", "$$", " $", "_",
        ] {
            pieces.push(sep.to_string());
        }
        let seed: u64 = std::env::var("CHATTER_MATCH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(7);
        println!("seed {seed} (CHATTER_MATCH_SEED=N repeats one)");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut scratch = Scratch::default();
        let mut with_mentions = 0;
        for case in 0..20_000 {
            let n = rng.gen_range(1..8);
            let text: String = (0..n)
                .map(|_| pieces[rng.gen_range(0..pieces.len())].as_str())
                .collect();
            let want = by_automaton(&matcher, &text);
            with_mentions += usize::from(!want.is_empty());
            assert_eq!(
                matcher.mentions(&text, &mut scratch),
                want,
                "case {case}: {text:?}"
            );
        }
        assert!(with_mentions > 5_000, "{with_mentions} texts with mentions");
    }
}
