//! Tokenizer, chat template, sampling and output parsing.
