    var best = bitcast<f32>(0x7fc00000u);
    var bi = 0xffffffffu;
    for (var i = lid; i < n; i = i + WG) {
        let v = src_at(base + i);
        if (argmax_better(v, i, best, bi)) {
            best = v;
            bi = i;
        }
    }
    let r = wg_argmax(best, bi, lid);
    if (lid == 0u) {
        dst_set(row, select(r, 0u, r == 0xffffffffu));
    }
