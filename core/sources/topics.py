"""The synthetic world's topics: a family, a share of attention and a vocabulary each."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    """One Pinterest-like interest: topics of one family get nearby latent vectors."""

    family: str
    popularity: float
    words: tuple[str, ...]


def _words(text: str) -> tuple[str, ...]:
    """A vocabulary written as whitespace-separated words."""
    return tuple(text.split())


TOPIC_TABLE: dict[str, Topic] = {
    "recipes": Topic(
        "food",
        1.6,
        _words("""
        pasta chicken dinner soup salad vegan curry tacos noodles casserole lunch breakfast
        healthy spicy garlic lemon skillet weeknight meal prep slowcooker rice beef shrimp
        sauce roasted easy family
    """),
    ),
    "baking": Topic(
        "food",
        1.1,
        _words("""
        cake cookies bread sourdough muffins brownies cupcakes pie frosting chocolate
        vanilla cinnamon rolls pastry butter dough crust banana cheesecake macarons scones
        glaze oven sprinkles
    """),
    ),
    "home decor": Topic(
        "home",
        1.5,
        _words("""
        living room bedroom cozy farmhouse minimalist boho rug shelf kitchen bathroom
        cabinet lighting neutral wall gallery plants modern rustic entryway curtains pillows
        mirror styling apartment makeover
    """),
    ),
    "diy crafts": Topic(
        "home",
        1.0,
        _words("""
        diy craft handmade crochet knitting sewing embroidery resin macrame paper glue yarn
        upcycle wreath candle pattern tutorial felt beads stencil scrap quilt woodworking
    """),
    ),
    "gardening": Topic(
        "home",
        0.9,
        _words("""
        garden seeds tomatoes herbs succulents raised beds compost flowers roses backyard
        balcony vegetables perennials soil pruning greenhouse container orchids lavender
        hydrangea mulch
    """),
    ),
    "fashion": Topic(
        "style",
        1.4,
        _words("""
        outfit dress denim jacket sneakers streetwear summer winter casual chic vintage
        boots blazer skirt capsule wardrobe layering linen knit trench tote accessories
        office oversized
    """),
    ),
    "beauty": Topic(
        "style",
        1.0,
        _words("""
        skincare serum routine glow moisturizer sunscreen acne retinol cleanser toner mask
        spa selfcare nails manicure fragrance perfume exfoliate hydrating glass skin
    """),
    ),
    "hair": Topic(
        "style",
        0.9,
        _words("""
        hairstyles braids curls bob bangs balayage blonde brunette updo ponytail waves pixie
        layers shag haircut highlights straightener curly natural bun ombre
    """),
    ),
    "makeup": Topic(
        "style",
        0.9,
        _words("""
        makeup eyeshadow eyeliner lipstick blush contour foundation concealer palette
        mascara brows smokey nude glam highlighter lashes bronzer primer gloss matte winged
    """),
    ),
    "weddings": Topic(
        "family",
        0.9,
        _words("""
        wedding bride bridal bouquet veil ceremony reception venue invitations bridesmaids
        centerpieces elopement engagement ring gown cake florals aisle boho barn toast
        honeymoon
    """),
    ),
    "kids": Topic(
        "family",
        0.9,
        _words("""
        kids toddler baby nursery activities preschool playroom birthday party lunchbox
        learning montessori sensory printable homeschool crafts toys bedtime parenting
        summer games
    """),
    ),
    "pets": Topic(
        "family",
        0.8,
        _words("""
        dog puppy cat kitten grooming training treats breeds golden retriever corgi husky
        tabby aquarium bunny leash bed adoption funny cute paws vet
    """),
    ),
    "photography": Topic(
        "creative",
        0.7,
        _words("""
        photography portrait lens camera lighting golden hour landscape film editing presets
        composition aperture bokeh studio street drone macro mirrorless shots poses
    """),
    ),
    "art": Topic(
        "creative",
        0.9,
        _words("""
        painting watercolor acrylic sketch drawing canvas abstract illustration charcoal
        portrait mural gouache ink doodle sketchbook palette brush gallery digital oil still
        life
    """),
    ),
    "quotes": Topic(
        "creative",
        0.8,
        _words("""
        quotes inspirational motivation life love happiness mindset wisdom positive
        affirmations words strength gratitude dreams faith courage kindness hope peace funny
        friendship
    """),
    ),
    "fitness": Topic(
        "active",
        1.1,
        _words("""
        workout abs glutes cardio hiit yoga pilates stretching strength dumbbell running
        home gym routine beginner core squats plank challenge weight arms mobility
    """),
    ),
    "travel": Topic(
        "active",
        1.3,
        _words("""
        travel beach italy paris japan roadtrip itinerary island hotel packing backpacking
        europe mountains cities bucket list greece bali tokyo budget weekend guide
    """),
    ),
    "outdoors": Topic(
        "active",
        0.8,
        _words("""
        hiking camping trail tent lake forest national park kayak climbing sunset wilderness
        campfire backpack waterfall gear fishing canoe cabin stargazing summit
    """),
    ),
    "cars": Topic(
        "gear",
        0.6,
        _words("""
        car truck classic muscle jdm drift restoration engine interior wheels porsche
        mustang camper van offroad jeep garage detailing electric racing vintage
    """),
    ),
    "tech": Topic(
        "gear",
        0.7,
        _words("""
        tech desk setup gadgets keyboard laptop monitor gaming workspace headphones
        smartphone apps coding productivity minimal cable wallpaper smart home speaker
        tablet
    """),
    ),
}

TOPICS: dict[str, tuple[str, ...]] = {name: topic.words for name, topic in TOPIC_TABLE.items()}
TOPIC_NAMES: tuple[str, ...] = tuple(TOPICS)

# Words any pin description may borrow, so text is not a pure function of the topic.
GENERIC_WORDS: tuple[str, ...] = _words("""
    ideas best easy simple perfect favorite new inspiration tips for your with the and how
    to beautiful amazing
""")
