//! Tokenizer wrapper on the fixture: ids by content, no added special tokens, vocab size, and
//! UTF-8-correct streaming through byte-fallback tokens.

mod common;

use zaya_chat::{ChatError, Tokenizer};

#[test]
fn special_tokens_are_found_by_content() {
    let tok = common::tokenizer();
    let s = tok.special_tokens();
    assert_eq!(s.bos, Some(2));
    assert_eq!(s.im_start, Some(105));
    assert_eq!(s.im_end, Some(106));
    assert_eq!(s.think_start, Some(477));
    assert_eq!(s.think_end, Some(478));
    assert_eq!(s.tool_call_start, Some(101));
    assert_eq!(s.tool_response_end, Some(104));
    assert_eq!(tok.default_stop_tokens(), vec![106, 1]);
    assert_eq!(tok.vocab_size(), 479);
}

#[test]
fn encode_adds_no_special_tokens() {
    let tok = common::tokenizer();
    let ids = tok.encode("Hello world").unwrap();
    // The post-processor would wrap this in <bos> ... <|im_end|>.
    assert_eq!(ids, vec![463, 468]);
    let ids = tok
        .encode("<bos><|im_start|>user\nHi<|im_end|>\n<think>\n</think>\n\n")
        .unwrap();
    assert_eq!(ids.first(), Some(&2));
    assert!(ids.contains(&477) && ids.contains(&478) && ids.contains(&108));
    assert_eq!(
        tok.decode(&ids).unwrap(),
        "<bos><|im_start|>user\nHi<|im_end|>\n<think>\n</think>\n\n"
    );
}

#[test]
fn missing_or_broken_tokenizer_file_is_a_clear_error() {
    let err = Tokenizer::from_file("/nonexistent/tokenizer.json").unwrap_err();
    assert!(matches!(err, ChatError::MissingFile { .. }), "{err}");
    assert!(
        err.to_string().contains("/nonexistent/tokenizer.json"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    std::fs::write(&path, "{\"model\": 1}").unwrap();
    let err = Tokenizer::from_file(&path).unwrap_err();
    assert!(matches!(err, ChatError::TokenizerLoad { .. }), "{err}");
}

#[test]
fn streaming_holds_back_split_characters() {
    let tok = common::tokenizer();
    let text = "Hé €x😀 the world!";
    let ids = tok.encode(text).unwrap();
    // é, € and 😀 are not in the vocab: byte fallback, one token per byte.
    let e_acute = [
        tok.token_id("<0xC3>").unwrap(),
        tok.token_id("<0xA9>").unwrap(),
    ];
    assert!(ids.windows(2).any(|w| w == e_acute), "{ids:?}");
    let mut stream = tok.decode_stream();
    let mut pieces = Vec::new();
    for &id in &ids {
        if let Some(piece) = stream.step(id).unwrap() {
            assert!(
                !piece.contains('\u{FFFD}'),
                "partial character emitted: {piece:?}"
            );
            pieces.push(piece);
        }
    }
    if let Some(rest) = stream.flush().unwrap() {
        pieces.push(rest);
    }
    assert_eq!(pieces.concat(), text);
    assert!(
        pieces.len() < ids.len(),
        "byte tokens were held back and merged"
    );

    // An incomplete character emits nothing; at the end, flush releases it as U+FFFD (one per
    // byte token, as HF's ByteFallback decoder does).
    let mut stream = tok.decode_stream();
    assert_eq!(stream.step(tok.token_id("<0xE2>").unwrap()).unwrap(), None);
    assert_eq!(stream.step(tok.token_id("<0x82>").unwrap()).unwrap(), None);
    assert_eq!(stream.flush().unwrap().as_deref(), Some("\u{FFFD}\u{FFFD}"));
    assert_eq!(stream.flush().unwrap(), None);
}
