    var ss = 0.0;
    for (var i = lid; i < n; i = i + WG) {
        let v = src_at(base + i);
        ss = ss + v * v;
    }
    let mean_sq = wg_sum(ss, lid) / f32(n);
    let inv = 1.0 / sqrt(mean_sq + pf(2u));
    for (var i = lid; i < n; i = i + WG) {
        dst_set(base + i, bitcast<u32>(src_at(base + i) * inv * gamma_at(i)));
    }
