"""Product suggestions (推荐商品): item-to-item co-purchase plus declared preferred categories.

Scoring, for customer u and a product j:

* similarity of two products = cosine over buyers: c(i, j) / √(n_i · n_j), where c(i, j) is the number of
  customers who bought both and n_i the number who bought i (counted orders only, refunds left out);
* score(u, j) = Σ similarity(i, j) over the products i that u bought (i ≠ j),
  + PREFERENCE_WEIGHT when j's category is one u declared as preferred (Preference.categories);
* products u already buys regularly (in ≥ REGULAR_ORDERS of u's orders) are left out;
* highest score first, ties by product name; only positive scores.

`rank()` is a pure function over Polars frames; `recommend()` reads them from the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from kehu.engagement.models import Preference
from kehu.sales.models import OrderLine, OrderStatus, Product

if TYPE_CHECKING:
    import polars as pl

PREFERENCE_WEIGHT = 0.5
REGULAR_ORDERS = 2
SHOWN = 5


def rank(lines: pl.DataFrame, preferences: pl.DataFrame, products: pl.DataFrame, customer_ids: Iterable[int],
         n: int = SHOWN) -> dict[int, list[int]]:
    """{customer: [product ids, best first]}.

    lines: customer, order, product (one row per order line); preferences: customer, category;
    products: product, category, name.
    """
    import polars as pl

    wanted = pl.Series("customer", list(customer_ids), dtype=pl.Int64)
    lines = lines.select(pl.col("customer").cast(pl.Int64), pl.col("order").cast(pl.Int64),
                         pl.col("product").cast(pl.Int64)).drop_nulls()
    bought = lines.select("customer", "product").unique()
    buyers = bought.group_by("product").agg(pl.len().alias("n"))
    mine = bought.filter(pl.col("customer").is_in(wanted.implode())).rename({"product": "i"})
    pairs = (bought.filter(pl.col("product").is_in(mine["i"].unique().implode())).rename({"product": "i"})
             .join(bought.rename({"product": "j"}), on="customer")
             .filter(pl.col("i") != pl.col("j"))
             .group_by("i", "j").agg(pl.len().alias("c"))
             .join(buyers.rename({"product": "i", "n": "n_i"}), on="i")
             .join(buyers.rename({"product": "j", "n": "n_j"}), on="j")
             .with_columns(sim=pl.col("c") / (pl.col("n_i") * pl.col("n_j")).sqrt()))
    co = mine.join(pairs.select("i", "j", "sim"), on="i").filter(pl.col("i") != pl.col("j")) \
        .group_by("customer", "j").agg(pl.col("sim").sum().alias("score"))
    prefs = preferences.select(pl.col("customer").cast(pl.Int64), pl.col("category").cast(pl.Int64)) \
        .filter(pl.col("customer").is_in(wanted.implode())) \
        .join(products.select(pl.col("product").cast(pl.Int64).alias("j"), pl.col("category").cast(pl.Int64)),
              on="category") \
        .select("customer", "j", pl.lit(PREFERENCE_WEIGHT).alias("score"))
    regular = lines.filter(pl.col("customer").is_in(wanted.implode())).group_by("customer", "product") \
        .agg(pl.col("order").n_unique().alias("orders")).filter(pl.col("orders") >= REGULAR_ORDERS) \
        .select("customer", pl.col("product").alias("j"))
    names = products.select(pl.col("product").cast(pl.Int64).alias("j"), pl.col("name"))
    scored = pl.concat([co, prefs.with_columns(pl.col("score").cast(pl.Float64))]) \
        .group_by("customer", "j").agg(pl.col("score").sum()) \
        .join(regular, on=["customer", "j"], how="anti") \
        .filter(pl.col("score") > 0) \
        .join(names, on="j", how="left") \
        .sort(["customer", "score", "name"], descending=[False, True, False])
    result: dict[int, list[int]] = {int(c): [] for c in wanted}
    for customer, product in scored.group_by("customer", maintain_order=True).head(n).select("customer", "j") \
            .iter_rows():
        result[customer].append(product)
    return result


def _frames(customer_ids: list[int]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    import polars as pl

    rows = OrderLine.objects.filter(order__status=OrderStatus.COMPLETED, product__isnull=False) \
        .values_list("order__customer_id", "order_id", "product_id")
    lines = pl.DataFrame(list(rows), schema={"customer": pl.Int64, "order": pl.Int64, "product": pl.Int64},
                         orient="row")
    prefs = Preference.categories.through.objects.filter(preference__customer_id__in=customer_ids) \
        .values_list("preference__customer_id", "category_id")
    preferences = pl.DataFrame(list(prefs), schema={"customer": pl.Int64, "category": pl.Int64}, orient="row")
    products = pl.DataFrame(list(Product.objects.values_list("id", "category_id", "name")),
                            schema={"product": pl.Int64, "category": pl.Int64, "name": pl.String}, orient="row")
    return lines, preferences, products


def recommend(customer_ids: Iterable[int], n: int = SHOWN) -> dict[int, list[Product]]:
    """{customer id: [Product, best first]} for these customers."""
    ids = list(customer_ids)
    if not ids:
        return {}
    ranked = rank(*_frames(ids), ids, n)
    by_id = Product.objects.in_bulk({p for ps in ranked.values() for p in ps})
    return {c: [by_id[p] for p in ps if p in by_id] for c, ps in ranked.items()}


def suggestion_text(products: list[Product]) -> str:
    """What {推荐商品} becomes in a message: 商品A、商品B、商品C."""
    return "、".join(p.name for p in products[:3])
