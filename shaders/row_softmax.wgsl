    var m = neg_inf();
    for (var i = lid; i < n; i = i + WG) {
        m = max(m, src_at(base + i));
    }
    m = wg_max(m, lid);
    var s = 0.0;
    for (var i = lid; i < n; i = i + WG) {
        s = s + exp(src_at(base + i) - m);
    }
    let inv = 1.0 / wg_sum(s, lid);
    for (var i = lid; i < n; i = i + WG) {
        dst_set(base + i, bitcast<u32>(exp(src_at(base + i) - m) * inv));
    }
