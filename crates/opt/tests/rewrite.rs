//! The rule engine on graphs written as text: a one-rule pass (`x * 1 -> x`), commutative
//! operands, guards, names bound twice, and readers kept up to date across rewrites.

use std::sync::Arc;
use zaya_ir::parse;
use zaya_opt::rewrite::{Outcome, Pattern, Rule, RulePass, rewrite};
use zaya_opt::{Pass, PassLog, Strategy};

const MUL_BY_ONE: RulePass = RulePass {
    name: "mul_by_one",
    describe: "x * 1 -> x",
    rules: || {
        vec![
            Rule::new(
                "mul_by_one",
                Pattern::op("mul", [Pattern::var("x"), Pattern::constant(1.0)]).commutative(),
                |rw, m, log| {
                    rw.replace_all_uses(m.value(), m["x"]);
                    log.note(format!("x * 1 at {}", m.root));
                    Outcome::resume(m.root + 1)
                },
            )
            .when(|rw, m| rw.ty(m["x"]) == rw.ty(m.value())),
        ]
    },
};

#[test]
fn one_rule_drops_multiplications_by_one_in_either_order_but_not_broadcasts() {
    let g = parse(
        "graph g {
  input %x: f32[4]
  input %s: f32[1]
  %one: f32[4] = const{1.0}
  %a: f32[4] = mul %x, %one
  %b: f32[4] = mul %one, %a
  %c: f32[4] = exp %b
  %d: f32[4] = mul %s, %one
  %e: f32[4] = add %c, %d
  output e = %e
  output b = %b
}",
    )
    .unwrap();
    let strategy = Strategy::new("t", vec![Arc::new(MUL_BY_ONE)])
        .then(Arc::new(zaya_opt::passes::DeadCode) as Arc<dyn Pass>);
    let (out, logs) = strategy.apply(&g).unwrap();
    assert_eq!(logs[0].rewrites.len(), 2, "{:?}", logs[0].rewrites);
    let text = out.to_string();
    // exp reads x directly, the output `b` is x, and the broadcast `s * ones` stays.
    assert!(text.contains("= exp %0\n"), "{text}");
    assert!(text.contains("output b = %0"), "{text}");
    assert!(text.contains("= mul %1, %"), "{text}");
    assert_eq!(text.matches(" mul ").count(), 1, "{text}");
}

#[test]
fn a_name_bound_twice_must_be_one_value() {
    let g = parse(
        "graph g {
  input %a: f32[4]
  input %b: f32[4]
  %z: f32[4] = sub %a, %a
  %y: f32[4] = sub %a, %b
  %s: f32[4] = add %z, %y
  output s = %s
}",
    )
    .unwrap();
    let same = Pattern::op("sub", [Pattern::var("x"), Pattern::var("x")]);
    let hits: Vec<usize> = (0..g.insts.len())
        .filter(|&i| same.match_at(&g, i).is_some())
        .collect();
    assert_eq!(hits, [0]);
    // x - x -> 0 as a rule; the reader of z (the add) now reads the zero.
    let rules = [Rule::new("sub_self", same, |rw, m, _| {
        let zero = rw.insts[m.root].outputs[0];
        let Some(&reader) = rw.readers(zero).first() else {
            return Outcome::Unchanged;
        };
        assert_eq!(reader, 2);
        Outcome::Unchanged
    })];
    let out = rewrite(&g, &rules, &mut PassLog::default());
    assert_eq!(out, g);
}

/// `Rewriter::duplicate_range` (used by `norm_prologue`) must leave every value's readers
/// what `Graph::users` says of the edited graph, copies and shifted instructions included.
#[test]
fn readers_follow_a_duplicated_range() {
    let g = parse(
        "graph g {
  input %x: f32[4]
  %a: f32[4] = exp %x
  %b: f32[4] = mul %a, %x
  %c: f32[4] = add %b, %a
  %d: f32[4] = add %c, %b
  output d = %d
}",
    )
    .unwrap();
    let mut rw = zaya_opt::rewrite::Rewriter::new(g);
    let check = |rw: &zaya_opt::rewrite::Rewriter| {
        let users = rw.users();
        assert_eq!(users.len(), rw.values.len());
        for (v, expected) in users.iter().enumerate() {
            let id = zaya_ir::ValueId::from_index(v);
            assert_eq!(
                &rw.readers(id).to_vec(),
                expected,
                "readers of %{v}\n{}",
                **rw
            );
        }
    };
    // Copy `a` and `b` (b reads a): the copies land after b, `c` and `d` shift by two.
    let map = rw.duplicate_range(0, 2);
    assert_eq!(map.len(), 2);
    assert_eq!(rw.insts.len(), 6);
    check(&rw);
    // The last reader takes the copy of `b`: readers move with it.
    let (old_b, new_b) = map[1];
    rw.replace_input(5, old_b, new_b);
    check(&rw);
    assert!(rw.readers(new_b).contains(&5));
}
