//! The demo's shop: a few SKUs and a realistic mix of orders, some of which must fail.

use serde_json::{json, Value};

/// SKU, units in stock.
pub const STOCK: [(&str, i64); 4] = [
    ("DOG-FOOD-12KG", 500),
    ("BIRD-SEED-1KG", 500),
    ("CAT-TREE-XL", 3),
    ("FISH-TANK-60L", 0),
];

/// The `i`-th order: mostly ordinary baskets, plus a declined card, a sold-out fish tank and
/// a cat tree of which only three exist.
pub fn order(i: usize) -> (Value, String) {
    let customer = format!("cust_{:03}", i % 7);
    let email = format!("{customer}@example.com");
    let (items, token, story) = match i % 6 {
        0 => (
            json!([{"sku": "DOG-FOOD-12KG", "quantity": 1, "unit_price": 5499}]),
            "tok_decline",
            "1x DOG-FOOD-12KG, card that will be declined",
        ),
        1 => (
            json!([{"sku": "FISH-TANK-60L", "quantity": 1, "unit_price": 12900},
                   {"sku": "BIRD-SEED-1KG", "quantity": 2, "unit_price": 499}]),
            "tok_visa",
            "1x FISH-TANK-60L (sold out), 2x BIRD-SEED-1KG",
        ),
        2 => (
            json!([{"sku": "CAT-TREE-XL", "quantity": 1, "unit_price": 18900}]),
            "tok_mastercard",
            "1x CAT-TREE-XL (only 3 exist)",
        ),
        _ => (
            json!([{"sku": "DOG-FOOD-12KG", "quantity": 2, "unit_price": 5499},
                   {"sku": "BIRD-SEED-1KG", "quantity": 1, "unit_price": 499}]),
            "tok_visa",
            "2x DOG-FOOD-12KG, 1x BIRD-SEED-1KG",
        ),
    };
    let body = json!({
        "customer_id": customer,
        "email": email,
        "currency": "EUR",
        "payment_token": token,
        "items": items,
    });
    (body, story.to_owned())
}
