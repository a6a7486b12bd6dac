#!/usr/bin/python3
"""purchase_orders.py OUT.csv [ROWS]: a deterministic CSV of purchase orders.

Columns: date (ISO, 2023-01-01 .. 2024-12-31), supplier, amount (two decimals).
Twelve suppliers; each one's 2024 orders are its 2023 orders' amounts scaled by a
fixed factor, so year-over-year spend growth is known by construction. The three
growth leaders are LEADERS (highest first); the others grow by at most 35 %.
The script checks its own output against that answer and prints it:
    TOP3:Kestrel Freight,Orchid Labs,Zephyr Metals
Used by tests/integration/sandbox.sh (the pandas + matplotlib scenario).
"""
import csv
import datetime
import random
import sys

# supplier -> 2024 spend / 2023 spend
GROWTH = {
    "Kestrel Freight": 3.10,
    "Orchid Labs": 2.45,
    "Zephyr Metals": 1.90,
    "Acme Components": 1.35,
    "Borealis Paper": 1.20,
    "Cobalt Logistics": 1.12,
    "Delta Fasteners": 1.05,
    "Ember Textiles": 0.98,
    "Fjord Packaging": 0.90,
    "Granite Tools": 0.82,
    "Helix Chemicals": 0.75,
    "Ionic Electronics": 0.60,
}
LEADERS = ["Kestrel Freight", "Orchid Labs", "Zephyr Metals"]


def main():
    out = sys.argv[1]
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    rng = random.Random(20240229)
    names = sorted(GROWTH)
    per_year = rows // 2
    orders = []
    for i in range(per_year):
        supplier = names[i % len(names)]
        day = datetime.date(2023, 1, 1) + datetime.timedelta(days=rng.randrange(365))
        amount = round(rng.uniform(100.0, 5000.0), 2)
        orders.append((day, supplier, amount))
        # Same order a year later, scaled: the yearly totals grow by exactly GROWTH.
        orders.append((day.replace(year=2024), supplier, round(amount * GROWTH[supplier], 2)))
    rng.shuffle(orders)
    orders.sort(key=lambda o: o[0])
    spend = {}
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["date", "supplier", "amount"])
        for day, supplier, amount in orders:
            w.writerow([day.isoformat(), supplier, f"{amount:.2f}"])
            key = (supplier, day.year)
            spend[key] = spend.get(key, 0.0) + amount
    growth = {s: spend[(s, 2024)] / spend[(s, 2023)] - 1 for s in names}
    top = sorted(names, key=lambda s: growth[s], reverse=True)[:3]
    if top != LEADERS:
        sys.exit(f"purchase_orders: generated leaders {top}, expected {LEADERS}")
    print("TOP3:" + ",".join(top))


if __name__ == "__main__":
    main()
