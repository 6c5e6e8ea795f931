# Counts the primes p with lo <= p < hi by a segmented sieve.
BEGIN {
  lo = lo + 0; hi = hi + 0
  if (lo < 2) lo = 2
  if (hi <= lo) { print 0; exit }
  r = int(sqrt(hi)) + 1
  for (i = 2; i <= r; i++) small[i] = 1
  for (i = 2; i * i <= r; i++) if (small[i]) for (j = i * i; j <= r; j += i) small[j] = 0
  for (p = 2; p <= r; p++) {
    if (!small[p]) continue
    s = int((lo + p - 1) / p) * p
    if (s < p * p) s = p * p
    for (j = s; j < hi; j += p) comp[j - lo] = 1
  }
  n = 0
  for (k = 0; k < hi - lo; k++) if (!(k in comp)) n++
  print n
}
